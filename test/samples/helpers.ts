/**
 * Test plumbing for the sample apps: start Bookinfo wired directly over loopback, and a
 * recording relay ("tap") that sits on a real socket between two apps to observe what one sent
 * the other (and optionally delays it, like a fault-injecting proxy would).
 */
import { createServer, request, type IncomingHttpHeaders } from 'node:http';
import * as details from '../../samples/bookinfo/src/details.ts';
import * as productpage from '../../samples/bookinfo/src/productpage.ts';
import * as ratings from '../../samples/bookinfo/src/ratings.ts';
import * as reviews from '../../samples/bookinfo/src/reviews.ts';
import { listen, type Running } from '../../samples/common/server.ts';
import { refusedPort } from '../helpers/refused_port.ts';

export const quiet = (): void => {};
export const LOOPBACK = '127.0.0.1';

export interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

export interface Tap extends Running {
  seen: Seen[];
}

/** Relays every request to 127.0.0.1:targetPort, recording it first; delayMs holds it back. */
export async function startTap(targetPort: number, opts: { delayMs?: number } = {}): Promise<Tap> {
  const seen: Seen[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const server = createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    const forward = () => {
      const up = request({ host: LOOPBACK, port: targetPort, method: req.method, path: req.url, headers: req.headers }, (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      });
      up.on('error', () => (res.headersSent ? res.destroy() : (res.writeHead(502), res.end())));
      req.pipe(up);
    };
    if (opts.delayMs) {
      const t = setTimeout(() => (timers.delete(t), forward()), opts.delayMs);
      timers.add(t);
    } else forward();
  });
  const running = await listen(server, 0, LOOPBACK);
  return {
    seen,
    port: running.port,
    close: async () => {
      for (const t of timers) clearTimeout(t);
      await running.close();
    },
  };
}

/** A port on which nothing listens. */
export async function deadPort(): Promise<number> {
  return refusedPort(LOOPBACK);
}

export interface Bookinfo {
  productpage: number;
  details: number;
  reviews: number;
  ratings: number;
  close(): Promise<void>;
}

export interface BookinfoOptions {
  reviewsVersion?: 'v1' | 'v2' | 'v3';
  /** Put a tap between reviews and ratings / productpage and reviews. */
  ratingsTap?: { delayMs?: number };
  reviewsTap?: { delayMs?: number };
  /** Point reviews (or ratings, details) at a port where nothing listens. */
  reviewsDown?: boolean;
  ratingsDown?: boolean;
  detailsDown?: boolean;
}

export interface BookinfoWithTaps extends Bookinfo {
  ratingsTap?: Tap;
  reviewsTap?: Tap;
}

/** Details, ratings, one reviews version and productpage, on loopback port 0, wired directly. */
export async function startBookinfo(o: BookinfoOptions = {}): Promise<BookinfoWithTaps> {
  const started: Running[] = [];
  const keep = <T extends Running>(r: T): T => (started.push(r), r);
  const base = { host: LOOPBACK, port: 0, log: quiet };
  const d = keep(await details.start({ ...base, env: {} }));
  const ra = keep(await ratings.start({ ...base, env: {} }));
  const ratingsTap = o.ratingsTap ? keep(await startTap(ra.port, o.ratingsTap)) : undefined;
  const ratingsPort = o.ratingsDown ? await deadPort() : (ratingsTap?.port ?? ra.port);
  const version = o.reviewsVersion ?? 'v1';
  const rv = keep(await reviews.start({ ...base, version, env: { RATINGS_HOSTNAME: LOOPBACK, RATINGS_SERVICE_PORT: String(ratingsPort), POD_NAME: `reviews-${version}-test` } }));
  const reviewsTap = o.reviewsTap ? keep(await startTap(rv.port, o.reviewsTap)) : undefined;
  const reviewsPort = o.reviewsDown ? await deadPort() : (reviewsTap?.port ?? rv.port);
  const detailsPort = o.detailsDown ? await deadPort() : d.port;
  const pp = keep(
    await productpage.start({
      ...base,
      env: {
        DETAILS_HOSTNAME: LOOPBACK,
        DETAILS_SERVICE_PORT: String(detailsPort),
        REVIEWS_HOSTNAME: LOOPBACK,
        REVIEWS_SERVICE_PORT: String(reviewsPort),
        RATINGS_HOSTNAME: LOOPBACK,
        RATINGS_SERVICE_PORT: String(ratingsPort),
      },
    }),
  );
  return {
    productpage: pp.port,
    details: d.port,
    reviews: rv.port,
    ratings: ra.port,
    ratingsTap,
    reviewsTap,
    close: async () => {
      await Promise.all(started.reverse().map((r) => r.close()));
    },
  };
}

export function count(haystack: string, needle: string): number {
  return haystack.split(needle).length - 1;
}
