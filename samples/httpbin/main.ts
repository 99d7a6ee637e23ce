/**
 * An httpbin-compatible subset, enough for the mesh tasks that use httpbin: /headers, /ip, /get,
 * /anything, /status/<codes>, /delay/<s>, /user-agent, /response-headers, /uuid.
 * Run: `PORT=8080 node --import tsx samples/httpbin/main.ts`.
 * Like go-httpbin (Istio's httpbin image), every request gets one access-log line on the log
 * (stdout by default), which is what Istio's mirroring task reads with `kubectl logs`.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { canonicalHeaderName, readBody, sendJson } from '../common/http.ts';
import { closeOnSignals, isMain, listen, resolvePort, type BaseOptions, type Running } from '../common/server.ts';

const MAX_DELAY_S = 10;

function headersOf(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = canonicalHeaderName(req.rawHeaders[i]!);
    const v = req.rawHeaders[i + 1]!;
    out[name] = out[name] === undefined ? v : `${out[name]},${v}`;
  }
  return out;
}

function argsOf(url: URL): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const k of new Set(url.searchParams.keys())) {
    const all = url.searchParams.getAll(k);
    out[k] = all.length === 1 ? all[0]! : all;
  }
  return out;
}

function originOf(req: IncomingMessage): string {
  const xff = req.headers['x-forwarded-for'];
  if (typeof xff === 'string' && xff) return xff;
  return (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
}

function fullUrl(req: IncomingMessage): string {
  return `http://${req.headers.host ?? 'localhost'}${req.url ?? '/'}`;
}

async function handle(req: IncomingMessage, res: ServerResponse, timers: Set<NodeJS.Timeout>): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://x');
  const path = url.pathname;
  const method = req.method ?? 'GET';

  if (path === '/headers') return sendJson(res, 200, { headers: headersOf(req) });
  if (path === '/ip') return sendJson(res, 200, { origin: originOf(req) });
  if (path === '/user-agent') return sendJson(res, 200, { 'user-agent': req.headers['user-agent'] ?? null });
  if (path === '/uuid') return sendJson(res, 200, { uuid: randomUUID() });
  if (path === '/get') return sendJson(res, 200, { args: argsOf(url), headers: headersOf(req), origin: originOf(req), url: fullUrl(req) });
  if (path === '/response-headers') {
    const args = argsOf(url);
    const extra: Record<string, string> = {};
    for (const [k, v] of Object.entries(args)) extra[k] = Array.isArray(v) ? v.join(',') : v;
    return sendJson(res, 200, args, extra);
  }
  if (path === '/anything' || path.startsWith('/anything/')) {
    const body = await readBody(req);
    const data = body.toString('utf8');
    let json: unknown = null;
    try {
      json = data ? JSON.parse(data) : null;
    } catch {
      json = null;
    }
    const form = (req.headers['content-type'] ?? '').includes('application/x-www-form-urlencoded') ? Object.fromEntries(new URLSearchParams(data)) : {};
    return sendJson(res, 200, { args: argsOf(url), data, files: {}, form, headers: headersOf(req), json, method, origin: originOf(req), url: fullUrl(req) });
  }
  const status = /^\/status\/([\d,]+)\/?$/.exec(path);
  if (status) {
    const codes = status[1]!.split(',').filter(Boolean).map(Number);
    const code = codes[Math.floor(Math.random() * codes.length)]!;
    if (!(code >= 100 && code < 600)) return sendJson(res, 400, { error: 'invalid status code' });
    res.writeHead(code, { 'content-length': 0 });
    res.end();
    return;
  }
  const delay = /^\/delay\/([\d.]+)\/?$/.exec(path);
  if (delay) {
    const seconds = Math.min(Number(delay[1]), MAX_DELAY_S);
    await new Promise<void>((r) => {
      const t = setTimeout(() => (timers.delete(t), r()), seconds * 1000);
      timers.add(t);
    });
    return sendJson(res, 200, { args: argsOf(url), data: '', files: {}, form: {}, headers: headersOf(req), origin: originOf(req), url: fullUrl(req) });
  }
  sendJson(res, 404, { error: 'not found' });
}

/** go-httpbin's access-log format: `time="..." status=200 method="GET" uri="/headers" ...`, plus the Host. */
function accessLogLine(req: IncomingMessage, status: number, ms: number): string {
  const q = (v: string | undefined) => JSON.stringify(v ?? '');
  const client = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
  return `time=${q(new Date().toISOString())} status=${status} method=${q(req.method)} uri=${q(req.url)} host=${q(req.headers.host)} duration_ms=${ms.toFixed(1)} user_agent=${q(req.headers['user-agent'])} client_ip=${client}`;
}

export async function start(opts: BaseOptions = {}): Promise<Running> {
  const env = opts.env ?? process.env;
  const timers = new Set<NodeJS.Timeout>();
  const log = opts.log ?? console.log;
  const server = createServer((req, res) => {
    const t0 = process.hrtime.bigint();
    res.once('finish', () => log(accessLogLine(req, res.statusCode, Number(process.hrtime.bigint() - t0) / 1e6)));
    handle(req, res, timers).catch(() => (res.headersSent ? res.destroy() : sendJson(res, 400, { error: 'bad request' })));
  });
  const running = await listen(server, resolvePort(opts, env, 8080), opts.host ?? env.HOST);
  log(`httpbin listening on port ${running.port}`);
  return {
    port: running.port,
    close: async () => {
      for (const t of timers) clearTimeout(t);
      await running.close();
    },
  };
}

if (isMain(import.meta.url)) closeOnSignals(await start());
