/**
 * HTTP echo: answers every request with JSON describing it (method, path, query, headers, body)
 * and who served it, so tests can count which backend / version answered.
 * Env: PORT (8080), SERVICE_NAME (echo), SERVICE_VERSION (v1), POD_NAME (else HOSTNAME, else
 * the machine's host name). The `x-served-by` response header carries the pod name.
 */
import { hostname } from 'node:os';
import { createServer } from 'node:http';
import { readBody, sendJson } from '../common/http.ts';
import { closeOnSignals, isMain, listen, resolvePort, type BaseOptions, type Running } from '../common/server.ts';

export interface EchoOptions extends BaseOptions {
  version?: string;
  podName?: string;
  serviceName?: string;
}

export async function start(opts: EchoOptions = {}): Promise<Running> {
  const env = opts.env ?? process.env;
  const service = opts.serviceName ?? env.SERVICE_NAME ?? 'echo';
  const version = opts.version ?? env.SERVICE_VERSION ?? 'v1';
  const pod = opts.podName ?? env.POD_NAME ?? env.HOSTNAME ?? hostname();
  const server = createServer(async (req, res) => {
    let body = '';
    try {
      body = (await readBody(req)).toString('utf8');
    } catch {
      return sendJson(res, 413, { error: 'body too large' });
    }
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/health') return sendJson(res, 200, { status: 'ok' }, { 'x-served-by': pod });
    sendJson(
      res,
      200,
      { service, version, pod, method: req.method, path: url.pathname, query: Object.fromEntries(url.searchParams), headers: req.headers, body },
      { 'x-served-by': pod },
    );
  });
  const running = await listen(server, resolvePort(opts, env, 8080), opts.host ?? env.HOST);
  (opts.log ?? console.log)(`echo ${service} ${version} (${pod}) listening on port ${running.port}`);
  return running;
}

if (isMain(import.meta.url)) closeOnSignals(await start());
