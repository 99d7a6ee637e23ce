import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateCommand } from '../../src/cli/validate.ts';

function capture() {
  const lines: string[] = [];
  return { lines, out: { log: (l: string) => lines.push(l), error: (l: string) => lines.push(l) } };
}

const GOOD = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v1}
`;
const BAD = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings, namespace: shop}
spec:
  hosts: [ratings]
  http:
  - route:
    - destination: {host: ratings, subset: v2}
    timeout: abc
`;

test('a good and a bad file: exit 1, each problem on a line with file, Kind ns/name, path, reason', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-validate-'));
  try {
    writeFileSync(join(dir, 'good.yaml'), GOOD);
    writeFileSync(join(dir, 'bad.yaml'), BAD);
    const { lines, out } = capture();
    const code = await validateCommand(['-f', dir], out);
    assert.equal(code, 1);
    const timeout = lines.find((l) => l.includes('timeout'));
    assert.ok(timeout, lines.join('\n'));
    assert.match(timeout, /bad\.yaml:9: VirtualService shop\/ratings: spec\.http\[0\]\.timeout: invalid duration "abc"/);
    const subset = lines.find((l) => l.includes('subset'));
    assert.match(subset ?? '', /bad\.yaml: VirtualService shop\/ratings: spec\.http\[0\]\.route\[0\]\.destination\.subset: Referenced host\+subset in destinationrule not found: "ratings\+v2"/);
    assert.ok(!lines.some((l) => l.includes('good.yaml')), 'the good file has no problems');
    assert.match(lines.at(-1)!, /✘ 2 errors in 1 of 3 resources/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('only good input: exit 0 and a success summary; --filename= form works', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-validate-'));
  try {
    writeFileSync(join(dir, 'good.yaml'), GOOD);
    const { lines, out } = capture();
    assert.equal(await validateCommand([`--filename=${join(dir, 'good.yaml')}`], out), 0);
    assert.deepEqual(lines, ['✔ 2 resources valid']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--help prints usage; no input or an unknown flag is a usage error (exit 2); a missing path is an error', async () => {
  let c = capture();
  assert.equal(await validateCommand(['--help'], c.out), 0);
  assert.match(c.lines.join('\n'), /Usage: tsmesh validate -f/);
  c = capture();
  assert.equal(await validateCommand([], c.out), 2);
  c = capture();
  assert.equal(await validateCommand(['--frobnicate'], c.out), 2);
  assert.match(c.lines[0], /unknown flag --frobnicate/);
  c = capture();
  assert.equal(await validateCommand(['-f', '/nonexistent/dir'], c.out), 1);
  assert.match(c.lines[0], /\/nonexistent\/dir: cannot read: ENOENT/);
});
