import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DEFAULT_CONTROLPLANE, findControlPlane, runApply, withFile } from '../../src/cli/apply_client.ts';
import { freePort } from '../../src/demo/ports.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const NET = join(repoRoot, 'samples/bookinfo/config/networking');
const dir = mkdtempSync(join(tmpdir(), 'tsmesh-apply-'));

/** A stand-in control plane: records requests, answers what the test says. */
interface Seen {
  path: string;
  contentType: string | undefined;
  body: string;
}
let seen: Seen[] = [];
let answer: (s: Seen) => { status: number; json: unknown } = () => ({ status: 200, json: { applied: [] } });
const server = createServer((req: IncomingMessage, res: ServerResponse) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const s = { path: req.url ?? '', contentType: req.headers['content-type'], body: Buffer.concat(chunks).toString('utf8') };
    seen.push(s);
    const a = answer(s);
    res.writeHead(a.status, { 'content-type': 'application/json' }).end(JSON.stringify(a.json));
  });
});
let base = '';
before(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  seen = [];
});
after(() => {
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

const env = {} as NodeJS.ProcessEnv;

test('apply: one POST of every file as multi-document YAML, and the applied list printed', async () => {
  seen = [];
  answer = () => ({ status: 200, json: { applied: ['VirtualService default/reviews', 'VirtualService default/productpage'] } });
  const r = await runApply({ op: 'apply', paths: [join(NET, 'virtual-service-reviews-50-v3.yaml'), join(NET, 'virtual-service-all-v1.yaml')], controlplane: base, env, cwd: dir });
  assert.equal(r.code, 0, r.err.join('\n'));
  assert.deepEqual(r.out, ['applied VirtualService default/reviews', 'applied VirtualService default/productpage']);
  assert.equal(seen.length, 1);
  assert.equal(seen[0]!.path, '/apis/v1/apply');
  assert.equal(seen[0]!.contentType, 'application/yaml');
  assert.match(seen[0]!.body, /weight: 50[\s\S]*\n---\n[\s\S]*name: productpage/);
  assert.match(r.err.join('\n'), /^warning: \S*virtual-service-all-v1\.yaml: VirtualService default\/reviews: also in \S*virtual-service-reviews-50-v3\.yaml: the last one wins$/m);
});

test('apply: the server rejects; every error is printed with our file name, exit 1', async () => {
  seen = [];
  answer = () => ({ status: 400, json: { errors: ['request: VirtualService default/reviews: spec.http[0].route[1].destination.subset: Referenced host+subset in destinationrule not found: "reviews+v9"'] } });
  const file = join(dir, 'v9.yaml');
  writeFileSync(file, 'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: { name: reviews }\nspec:\n  hosts: [reviews]\n  http: [{ route: [{ destination: { host: reviews, subset: v9 } }] }]\n');
  const r = await runApply({ op: 'apply', paths: [file], controlplane: base, env, cwd: dir });
  assert.equal(r.code, 1);
  assert.equal(seen.length, 1);
  assert.match(seen[0]!.path, /^\/apis\/v1\/apply\?file=[^&]*v9\.yaml$/, 'one file: the control plane is told its name');
  assert.match(r.err[0]!, /v9\.yaml: VirtualService default\/reviews: spec\.http\[0\]\.route\[1\]\.destination\.subset: Referenced host\+subset/);
  assert.match(r.err.at(-1)!, /nothing applied: the control plane rejected it \(1 error\(s\)\)/);
});

test('apply: an invalid file is reported locally and nothing is sent', async () => {
  seen = [];
  const good = join(NET, 'virtual-service-all-v1.yaml');
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: { name: reviews }\nspec:\n  hosts: [reviews]\n  http:\n    - route:\n        - destination: { subset: v1 }\n');
  const r = await runApply({ op: 'apply', paths: [good, bad], controlplane: base, env, cwd: dir });
  assert.equal(r.code, 1);
  assert.equal(seen.length, 0, 'nothing sent');
  assert.ok(r.err.some((l) => /bad\.yaml:8: VirtualService default\/reviews: spec\.http\[0\]\.route\[0\]\.destination\.host: is required/.test(l)), r.err.join('\n'));
  assert.match(r.err.at(-1)!, /^nothing applied: 1 error\(s\)/);
});

test('apply: a directory is read recursively; a missing file is an error', async () => {
  seen = [];
  answer = () => ({ status: 200, json: { applied: ['x'] } });
  const sub = join(dir, 'tree', 'nested');
  mkdirSync(sub, { recursive: true });
  writeFileSync(join(sub, 'dr.yaml'), 'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: { name: ratings }\nspec: { host: ratings, subsets: [{ name: v1, labels: { version: v1 } }] }\n');
  const ok = await runApply({ op: 'apply', paths: [join(dir, 'tree')], controlplane: base, env, cwd: dir });
  assert.equal(ok.code, 0, ok.err.join('\n'));
  assert.match(seen[0]!.body, /name: ratings/);
  const missing = await runApply({ op: 'apply', paths: [join(dir, 'nope.yaml')], controlplane: base, env, cwd: dir });
  assert.equal(missing.code, 1);
  assert.match(missing.err[0]!, /nope\.yaml: cannot read: ENOENT/);
});

test('apply -f - reads stdin', async () => {
  seen = [];
  answer = () => ({ status: 200, json: { applied: ['DestinationRule default/ratings'] } });
  const text = 'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: { name: ratings }\nspec: { host: ratings }\n';
  const r = await runApply({ op: 'apply', paths: ['-'], controlplane: base, env, cwd: dir, readStdin: async () => text });
  assert.equal(r.code, 0);
  assert.equal(seen[0]!.body, text);
});

test('delete: posts to /apis/v1/delete; 404 is an error naming what was not found', async () => {
  seen = [];
  answer = () => ({ status: 200, json: { deleted: ['VirtualService default/reviews'] } });
  const file = join(NET, 'virtual-service-reviews-50-v3.yaml');
  const r = await runApply({ op: 'delete', paths: [file], controlplane: base, env, cwd: dir });
  assert.equal(r.code, 0);
  assert.deepEqual(r.out, ['deleted VirtualService default/reviews']);
  assert.match(seen[0]!.path, /^\/apis\/v1\/delete\?file=[^&]*virtual-service-reviews-50-v3\.yaml$/);
  answer = () => ({ status: 404, json: { errors: ['VirtualService default/reviews: not found'] } });
  const nf = await runApply({ op: 'delete', paths: [file], controlplane: base, env, cwd: dir });
  assert.equal(nf.code, 1);
  assert.match(nf.err[0]!, /virtual-service-reviews-50-v3\.yaml: VirtualService default\/reviews: not found/);
  assert.match(nf.err.at(-1)!, /nothing deleted: not found/);
});

test('no control plane: a clear message that says how to start one', async () => {
  const port = await freePort('127.0.0.1');
  const r = await runApply({ op: 'apply', paths: [join(NET, 'virtual-service-all-v1.yaml')], controlplane: `http://127.0.0.1:${port}`, env, cwd: dir });
  assert.equal(r.code, 1);
  assert.equal(r.err.at(-1), `no control plane answers at http://127.0.0.1:${port} (from --controlplane): start one with \`npx tsmesh demo\`, or say where it is with --controlplane <url> or $TSMESH_CONTROLPLANE`);
});

test('finding the control plane: flag, then $TSMESH_CONTROLPLANE, then the demo state file, then :15014', () => {
  const cwd = join(dir, 'find');
  mkdirSync(join(cwd, '.tsmesh/demo'), { recursive: true });
  assert.deepEqual(findControlPlane(undefined, {}, cwd), { url: DEFAULT_CONTROLPLANE, from: 'the default address' });
  writeFileSync(join(cwd, '.tsmesh/demo/demo.json'), JSON.stringify({ pid: process.pid, controlplane: { http: 'http://127.0.0.1:40123', grpc: '127.0.0.1:40122', pid: 1 } }));
  assert.equal(findControlPlane(undefined, {}, cwd).url, 'http://127.0.0.1:40123');
  assert.equal(findControlPlane(undefined, {}, cwd).stale, undefined);
  assert.equal(findControlPlane(undefined, { TSMESH_CONTROLPLANE: '127.0.0.1:4000/' }, cwd).url, 'http://127.0.0.1:4000');
  assert.equal(findControlPlane('http://10.0.0.1:15014', { TSMESH_CONTROLPLANE: 'http://x' }, cwd).url, 'http://10.0.0.1:15014');
  // A state file left by a demo that is gone is still used, but flagged.
  writeFileSync(join(cwd, '.tsmesh/demo/demo.json'), JSON.stringify({ pid: 2 ** 22 + 12345, controlplane: { http: 'http://127.0.0.1:40123' } }));
  assert.equal(findControlPlane(undefined, {}, cwd).stale, true);
});

test('withFile puts our file in front of the server message', () => {
  const m = new Map([['VirtualService default/reviews', 'a.yaml']]);
  assert.equal(withFile('request: VirtualService default/reviews: spec.x: bad', m), 'a.yaml: VirtualService default/reviews: spec.x: bad');
  assert.equal(withFile('a.yaml: VirtualService default/reviews: spec.x: bad', m), 'a.yaml: VirtualService default/reviews: spec.x: bad');
  assert.equal(withFile('something else', m), 'something else');
  assert.equal(withFile('VirtualService default/reviews not found', m), 'a.yaml: VirtualService default/reviews not found');
  assert.equal(withFile('VirtualService default/reviews-v2: bad', m), 'VirtualService default/reviews-v2: bad');
});
