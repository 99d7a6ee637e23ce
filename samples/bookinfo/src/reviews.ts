/**
 * reviews: two reader reviews. v1 has no ratings; v2 asks ratings (10 s timeout) and colours the
 * stars black; v3 asks ratings (2.5 s timeout) and colours them red. Env ENABLE_RATINGS and
 * STAR_COLOR override what the version implies, like the original's container env.
 */
import { createServer } from 'node:http';
import { hostname } from 'node:os';
import { sendJson } from '../../common/http.ts';
import { listen, resolvePort, type BaseOptions, type Running } from '../../common/server.ts';
import { Outbound, serviceTarget } from './outbound.ts';
import { forwardHeaders } from './propagation.ts';

export interface ReviewsOptions extends BaseOptions {
  /** v1 | v2 | v3; overrides env SERVICE_VERSION. */
  version?: string;
}

const REVIEWS = [
  { reviewer: 'Reviewer1', text: 'An extremely entertaining play by Shakespeare. The slapstick humour is refreshing!' },
  { reviewer: 'Reviewer2', text: 'Absolutely fun and entertaining. The play lacks thematic depth when compared to other plays by Shakespeare.' },
];

export const RATINGS_UNAVAILABLE = 'Ratings service is currently unavailable';

export async function start(opts: ReviewsOptions = {}): Promise<Running> {
  const env = opts.env ?? process.env;
  const version = opts.version ?? env.SERVICE_VERSION ?? 'v1';
  const ratingsEnabled = env.ENABLE_RATINGS !== undefined ? env.ENABLE_RATINGS === 'true' : version !== 'v1';
  const color = env.STAR_COLOR ?? (version === 'v3' ? 'red' : 'black');
  // The original ties the timeout to the colour: black (v2) waits 10 s, anything else 2.5 s.
  const ratingsTimeoutMs = color === 'black' ? 10_000 : 2_500;
  // The original prints Java's "null" when these are unset; productpage hides "null" clusters.
  const podname = env.POD_NAME ?? env.HOSTNAME ?? hostname();
  const clustername = env.CLUSTER_NAME ?? 'null';
  const ratings = serviceTarget(env, 'ratings');
  const outbound = new Outbound(env);

  async function fetchRatings(id: number, headers: Record<string, string>): Promise<Record<string, number> | undefined> {
    try {
      const r = await outbound.get(ratings, `/ratings/${id}`, headers, ratingsTimeoutMs);
      if (r.status !== 200) return undefined;
      const body = JSON.parse(r.body) as { ratings?: Record<string, number> };
      return body.ratings ?? undefined;
    } catch {
      return undefined;
    }
  }

  const server = createServer(async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/health') return sendJson(res, 200, { status: 'Reviews is healthy' });
    const m = /^\/reviews\/([^/]+)\/?$/.exec(path);
    if (!m) return sendJson(res, 404, { error: 'not found' });
    const id = Number(m[1]);
    if (!Number.isInteger(id)) return sendJson(res, 400, { error: 'please provide numeric product ID' });

    const stars = ratingsEnabled ? await fetchRatings(id, forwardHeaders(req.headers)) : undefined;
    const reviews = REVIEWS.map((r) => {
      if (!ratingsEnabled) return { ...r };
      const n = stars?.[r.reviewer];
      return { ...r, rating: typeof n === 'number' ? { stars: n, color } : { error: RATINGS_UNAVAILABLE } };
    });
    sendJson(res, 200, { id: String(id), podname, clustername, reviews });
  });
  const running = await listen(server, resolvePort(opts, env, 9080), opts.host ?? env.HOST);
  (opts.log ?? console.log)(`reviews ${version} listening on port ${running.port}`);
  return {
    port: running.port,
    close: async () => {
      await outbound.close();
      await running.close();
    },
  };
}
