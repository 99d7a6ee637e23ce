// The apps run as child processes, the way the demo launcher and the Deployments start them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';

/** Starts `node --import tsx <args>` and resolves with the port from its "listening" line. */
function launch(args: string[], env: Record<string, string>): Promise<{ child: ChildProcess; port: number; line: string }> {
  // Proxy variables from the outer environment would reroute the apps' calls: drop them.
  const { HTTP_PROXY: _a, http_proxy: _b, TSMESH_OUTBOUND_PROXY: _c, ...outer } = process.env;
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], { env: { ...outer, HOST: '127.0.0.1', PORT: '0', ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => (child.kill(), reject(new Error(`no listening line from ${args.join(' ')}: ${out}`))), 20_000);
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (c: string) => {
      out += c;
      const m = /^(.*listening on port (\d+).*)$/m.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[2]), line: m[1]! });
      }
    });
    child.on('exit', (code) => (clearTimeout(timer), reject(new Error(`exited ${code}: ${out}`))));
  });
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

test('main.ts starts ratings and reviews v3 as processes wired by env', async () => {
  const ratings = await launch(['samples/bookinfo/src/main.ts', 'ratings'], {});
  try {
    const reviews = await launch(['samples/bookinfo/src/main.ts', 'reviews', '--version', 'v3'], { RATINGS_HOSTNAME: '127.0.0.1', RATINGS_SERVICE_PORT: String(ratings.port) });
    try {
      assert.match(reviews.line, /^reviews v3 listening on port \d+$/);
      const body = (await (await fetch(`http://127.0.0.1:${reviews.port}/reviews/0`)).json()) as any;
      assert.deepEqual(body.reviews[1].rating, { stars: 4, color: 'red' });
    } finally {
      await stop(reviews.child);
    }
  } finally {
    await stop(ratings.child);
  }
});

test('helper apps start as processes', async () => {
  for (const file of ['samples/httpbin/main.ts', 'samples/echo/main.ts', 'samples/tcp-echo/main.ts', 'samples/grpc-echo/main.ts']) {
    const app = await launch([file], {});
    try {
      assert.ok(app.port > 0, file);
    } finally {
      await stop(app.child);
    }
  }
});
