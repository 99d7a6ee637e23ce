/** details: the book's bibliographic facts, static like the original's v1. */
import { createServer } from 'node:http';
import { sendJson } from '../../common/http.ts';
import { listen, resolvePort, type BaseOptions, type Running } from '../../common/server.ts';

export function bookDetails(id: number): Record<string, unknown> {
  return {
    id,
    author: 'William Shakespeare',
    year: 1595,
    type: 'paperback',
    pages: 200,
    publisher: 'PublisherA',
    language: 'English',
    'ISBN-10': '1234567890',
    'ISBN-13': '123-1234567890',
  };
}

export async function start(opts: BaseOptions = {}): Promise<Running> {
  const env = opts.env ?? process.env;
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/health') return sendJson(res, 200, { status: 'Details is healthy' });
    const m = /^\/details(?:\/([^/]*))?\/?$/.exec(path);
    if (!m) return sendJson(res, 404, { error: 'not found' });
    const id = Number(m[1]);
    if (!m[1] || !Number.isInteger(id)) return sendJson(res, 400, { error: 'please provide numeric product id' });
    sendJson(res, 200, bookDetails(id));
  });
  const running = await listen(server, resolvePort(opts, env, 9080), opts.host ?? env.HOST);
  (opts.log ?? console.log)(`details ${env.SERVICE_VERSION ?? 'v1'} listening on port ${running.port}`);
  return running;
}
