/**
 * ratings: stars per reviewer. SERVICE_VERSION selects the original's misbehaving variants used
 * by resilience demos: v-faulty (half the requests 503), v-delayed (half wait 7 s),
 * v-unavailable / v-unhealthy (flip between serving and 503 every 60 s; v-unhealthy also fails
 * /health while unavailable).
 */
import { createServer } from 'node:http';
import { readBody, sendJson } from '../../common/http.ts';
import { listen, resolvePort, type BaseOptions, type Running } from '../../common/server.ts';

export interface RatingsOptions extends BaseOptions {
  /** Overrides env SERVICE_VERSION. */
  version?: string;
}

const DEFAULT_RATINGS = { Reviewer1: 5, Reviewer2: 4 };

export async function start(opts: RatingsOptions = {}): Promise<Running> {
  const env = opts.env ?? process.env;
  const version = opts.version ?? env.SERVICE_VERSION ?? 'v1';
  const added = new Map<number, Record<string, number>>(); // POSTed ratings, per product
  const startedAt = Date.now();
  const unavailable = () => (version === 'v-unavailable' || version === 'v-unhealthy') && Math.floor((Date.now() - startedAt) / 60_000) % 2 === 1;
  const timers = new Set<NodeJS.Timeout>();

  const server = createServer(async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/health') {
      if (version === 'v-unhealthy' && unavailable()) return sendJson(res, 500, { status: 'Ratings is not healthy' });
      return sendJson(res, 200, { status: 'Ratings is healthy' });
    }
    const m = /^\/ratings\/([^/]+)\/?$/.exec(path);
    if (!m) return sendJson(res, 404, { error: 'not found' });
    const id = Number(m[1]);
    if (!Number.isInteger(id)) return sendJson(res, 400, { error: 'please provide numeric product ID' });

    if (req.method === 'POST') {
      let body: unknown;
      try {
        body = JSON.parse((await readBody(req)).toString('utf8'));
      } catch {
        return sendJson(res, 400, { error: 'please provide valid ratings JSON' });
      }
      added.set(id, body as Record<string, number>);
      return sendJson(res, 200, { id, ratings: body });
    }
    const ok = () => sendJson(res, 200, { id, ratings: added.get(id) ?? DEFAULT_RATINGS });
    const unavailableReply = () => sendJson(res, 503, { error: 'Service unavailable' });
    if (version === 'v-faulty' && Math.random() < 0.5) return unavailableReply();
    if (unavailable()) return unavailableReply();
    if (version === 'v-delayed' && Math.random() < 0.5) {
      const t = setTimeout(() => (timers.delete(t), ok()), 7000);
      timers.add(t);
      return;
    }
    ok();
  });
  const running = await listen(server, resolvePort(opts, env, 9080), opts.host ?? env.HOST);
  (opts.log ?? console.log)(`ratings ${version} listening on port ${running.port}`);
  return {
    port: running.port,
    close: async () => {
      for (const t of timers) clearTimeout(t);
      await running.close();
    },
  };
}
