/**
 * Bookinfo launcher: `node --import tsx samples/bookinfo/src/main.ts <app> [--version vN] [--port N]`.
 * Everything else is configured by environment variables (see samples/README.md).
 */
import { closeOnSignals, isMain, type Running } from '../../common/server.ts';
import * as details from './details.ts';
import * as productpage from './productpage.ts';
import * as ratings from './ratings.ts';
import * as reviews from './reviews.ts';

const APPS = ['productpage', 'details', 'reviews', 'ratings'] as const;
type App = (typeof APPS)[number];

export function startApp(app: App, opts: { version?: string; port?: number; env?: Record<string, string | undefined> } = {}): Promise<Running> {
  const env = { ...(opts.env ?? process.env) };
  if (opts.version) env.SERVICE_VERSION = opts.version;
  const base = { port: opts.port, env };
  switch (app) {
    case 'productpage':
      return productpage.start(base);
    case 'details':
      return details.start(base);
    case 'reviews':
      return reviews.start({ ...base, version: opts.version });
    case 'ratings':
      return ratings.start({ ...base, version: opts.version });
  }
}

function usage(): never {
  console.error(`usage: main.ts <${APPS.join('|')}> [--version vN] [--port N]`);
  process.exit(2);
}

async function main(argv: string[]): Promise<void> {
  const [app, ...rest] = argv;
  if (!app || !(APPS as readonly string[]).includes(app)) usage();
  let version: string | undefined;
  let port: number | undefined;
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    const val = a.includes('=') ? a.slice(a.indexOf('=') + 1) : rest[++i];
    if (a.startsWith('--version')) version = val;
    else if (a.startsWith('--port')) port = Number(val);
    else usage();
  }
  closeOnSignals(await startApp(app as App, { version, port }));
}

if (isMain(import.meta.url)) await main(process.argv.slice(2));
