/**
 * productpage: the page users see. Calls details (one try, 3 s) and reviews (two tries, 3 s
 * each: the original's deliberate retry that Istio's fault-injection task trips over), forwards
 * tracing headers and, when signed in, `end-user: <name>` so the mesh can route by user.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCookies, readBody, sendJson, sendText } from '../../common/http.ts';
import { listen, resolvePort, type BaseOptions, type Running } from '../../common/server.ts';
import { Outbound, serviceTarget, type Target } from './outbound.ts';
import { forwardHeaders } from './propagation.ts';
import { renderIndex, renderProductPage, type Product, type ReviewsBody } from './productpage-html.ts';
import { SESSION_COOKIE, decodeSession, encodeSession } from './session.ts';

export const DETAILS_UNAVAILABLE = 'Sorry, product details are currently unavailable for this book.';
export const REVIEWS_UNAVAILABLE = 'Sorry, product reviews are currently unavailable for this book.';
export const RATINGS_UNAVAILABLE = 'Sorry, product ratings are currently unavailable for this book.';

const PER_TRY_TIMEOUT_MS = 3000;
const REVIEWS_TRIES = 2;

const PRODUCTS: Product[] = [
  {
    id: 0,
    title: 'The Comedy of Errors',
    descriptionHtml:
      '<a href="https://en.wikipedia.org/wiki/The_Comedy_of_Errors">Wikipedia Summary</a>: The Comedy of Errors is one of <b>William Shakespeare\'s</b> early plays. It is his shortest and one of his most farcical comedies, with a major part of the humour coming from slapstick and mistaken identity, in addition to puns and word play.',
  },
];

const STATIC_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'static');
const MIME: Record<string, string> = { '.css': 'text/css; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.html': 'text/html; charset=utf-8' };

/** Static files are read once: a fixed set, so no path from a request ever reaches the disk. */
function loadStatic(): Map<string, { type: string; body: Buffer }> {
  const files = new Map<string, { type: string; body: Buffer }>();
  for (const name of readdirSync(STATIC_DIR)) {
    files.set(`/static/${name}`, { type: MIME[extname(name)] ?? 'application/octet-stream', body: readFileSync(join(STATIC_DIR, name)) });
  }
  return files;
}

interface Fetched {
  status: number;
  body: Record<string, unknown>;
}

export async function start(opts: BaseOptions = {}): Promise<Running> {
  const env = opts.env ?? process.env;
  const secret = env.SESSION_SECRET ?? 'tsmesh-bookinfo';
  const details = serviceTarget(env, 'details');
  const reviews = serviceTarget(env, 'reviews');
  const ratings = serviceTarget(env, 'ratings');
  const outbound = new Outbound(env);
  const staticFiles = loadStatic();
  // Prometheus-style counter of upstream results, as the original exposes on /metrics.
  const results = new Map<string, number>();
  const count = (app: string, status: number) => {
    const k = `destination_app="${app}",response_code="${status}"`;
    results.set(k, (results.get(k) ?? 0) + 1);
  };

  async function call(app: string, target: Target, path: string, headers: Record<string, string>, tries: number, error: string): Promise<Fetched> {
    let status = 500;
    for (let i = 0; i < tries; i++) {
      try {
        const r = await outbound.get(target, path, headers, PER_TRY_TIMEOUT_MS);
        status = r.status;
        if (r.status === 200) {
          count(app, 200);
          return { status: 200, body: JSON.parse(r.body) as Record<string, unknown> };
        }
      } catch {
        status = 500; // timeout, refused, reset or unparseable body
      }
    }
    count(app, status);
    return { status, body: { error } };
  }
  const getDetails = (id: number, hs: Record<string, string>) => call('details', details, `/details/${id}`, hs, 1, DETAILS_UNAVAILABLE);
  const getReviews = (id: number, hs: Record<string, string>) => call('reviews', reviews, `/reviews/${id}`, hs, REVIEWS_TRIES, REVIEWS_UNAVAILABLE);
  const getRatings = (id: number, hs: Record<string, string>) => call('ratings', ratings, `/ratings/${id}`, hs, 1, RATINGS_UNAVAILABLE);

  function userOf(req: IncomingMessage): string | undefined {
    return decodeSession(secret, parseCookies(req.headers.cookie)[SESSION_COOKIE]);
  }

  function outboundHeaders(req: IncomingMessage): Record<string, string> {
    const hs = forwardHeaders(req.headers);
    delete hs['end-user']; // only the session decides who the user is
    const user = userOf(req);
    if (user) hs['end-user'] = user;
    return hs;
  }

  function redirect(res: ServerResponse, cookie: string): void {
    res.writeHead(302, { location: '/productpage', 'set-cookie': cookie, 'content-length': 0 });
    res.end();
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const method = req.method ?? 'GET';

    if (path === '/' || path === '/index.html') {
      return sendText(res, 200, renderIndex({ details: `http://${details.host}:${details.port}`, reviews: `http://${reviews.host}:${reviews.port}`, ratings: `http://${ratings.host}:${ratings.port}` }), 'text/html; charset=utf-8');
    }
    if (path === '/health') return sendJson(res, 200, { status: 'Product page is healthy' });
    if (path === '/metrics') {
      const lines = ['# TYPE request_result_total counter', ...[...results].map(([k, v]) => `request_result_total{${k}} ${v}`)];
      return sendText(res, 200, lines.join('\n') + '\n', 'text/plain; version=0.0.4');
    }
    const file = staticFiles.get(path);
    if (file) {
      res.writeHead(200, { 'content-type': file.type, 'content-length': file.body.length });
      res.end(file.body);
      return;
    }
    if (path === '/login' && method === 'POST') {
      const raw = (await readBody(req, 64 * 1024)).toString('utf8');
      const user = (req.headers['content-type'] ?? '').includes('json')
        ? String((JSON.parse(raw || '{}') as { username?: unknown }).username ?? '')
        : (new URLSearchParams(raw).get('username') ?? '');
      if (!user) return redirect(res, `${SESSION_COOKIE}=; Path=/; Max-Age=0`);
      return redirect(res, `${SESSION_COOKIE}=${encodeSession(secret, user)}; Path=/; HttpOnly; SameSite=Lax`);
    }
    // Istio's productpage (Flask, methods=['POST']) answers other methods with 405.
    if (path === '/login') return sendJson(res, 405, { error: 'method not allowed' }, { allow: 'POST' });
    if (path === '/logout') return redirect(res, `${SESSION_COOKIE}=; Path=/; Max-Age=0`);
    if (path === '/productpage') {
      const hs = outboundHeaders(req);
      const product = PRODUCTS[0]!;
      const d = await getDetails(product.id, hs);
      const r = await getReviews(product.id, hs);
      const html = renderProductPage({
        product,
        user: userOf(req),
        detailsStatus: d.status,
        details: d.body,
        reviewsStatus: r.status,
        reviews: r.body as ReviewsBody,
      });
      return sendText(res, 200, html, 'text/html; charset=utf-8');
    }
    if (path === '/api/v1/products') return sendJson(res, 200, PRODUCTS);
    const api = /^\/api\/v1\/products\/(\d+)(?:\/(reviews|ratings))?\/?$/.exec(path);
    if (api) {
      const id = Number(api[1]);
      const hs = outboundHeaders(req);
      const f = api[2] === 'reviews' ? await getReviews(id, hs) : api[2] === 'ratings' ? await getRatings(id, hs) : await getDetails(id, hs);
      return sendJson(res, f.status, f.body);
    }
    sendJson(res, 404, { error: 'not found' });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) sendJson(res, 400, { error: 'bad request' });
      else res.destroy();
    });
  });
  const running = await listen(server, resolvePort(opts, env, 9080), opts.host ?? env.HOST);
  (opts.log ?? console.log)(`productpage ${env.SERVICE_VERSION ?? 'v1'} listening on port ${running.port}`);
  return {
    port: running.port,
    close: async () => {
      await outbound.close();
      await running.close();
    },
  };
}
