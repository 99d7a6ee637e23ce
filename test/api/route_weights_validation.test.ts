// Issue 7, bug 2 (api side): route destinations are checked with Istio's weight rule through
// the same function the pilot routes with (src/api/weights.ts), for HTTP, TCP and TLS routes.
// A TCP VirtualService with two unweighted destinations used to validate, then produced an
// empty weighted_clusters that made the proxy reject the whole listener update.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ERR } from '../../src/api/errors.ts';
import { FileConfigStore } from '../../src/api/file-store.ts';
import { loadText } from '../../src/api/load.ts';
import { MemoryConfigStore } from '../../src/api/memory-store.ts';
import { formatValidationError } from '../../src/api/types.ts';
import { ConfigApi } from '../../src/controlplane/config_api.ts';
import { doc, errorsOf } from './helpers.ts';

// Line 7 of the second document (line 14 of the file) holds `route:`.
const SERVICE = `apiVersion: v1
kind: Service
metadata: {name: echo}
spec:
  ports: [{name: tcp, port: 9000}]
  selector: {app: echo}
`;
const TCP_TWO_UNWEIGHTED = `${SERVICE}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo, namespace: shop}
spec:
  hosts: [echo]
  tcp:
  - route:
    - destination: {host: echo, subset: v1}
    - destination: {host: echo, subset: v2}
`;

test('TCP route: two destinations without weights is "total destination weight = 0", with file, line, resource and path', () => {
  const errs = loadText(TCP_TWO_UNWEIGHTED, { file: 'echo.yaml' }).flatMap((r) => r.errors);
  assert.equal(errs.length, 1, errs.map(formatValidationError).join('\n'));
  const e = errs[0]!;
  assert.equal(e.code, ERR.INVALID_WEIGHTS);
  assert.equal(e.path, 'spec.tcp[0].route');
  assert.equal(e.line, 14);
  assert.match(formatValidationError(e), /^echo\.yaml:14: VirtualService shop\/echo: spec\.tcp\[0\]\.route: total destination weight = 0/);
});

test('HTTP and TLS routes follow the same rule; one destination or any positive weight is fine', () => {
  const two = (section: string, w1: string, w2: string) => {
    const match = section === 'tls' ? `  match: [{sniHosts: [a.example.com]}]\n` : '';
    return doc('VirtualService', `hosts: [a.example.com]\n${section}:\n- route:\n  - destination: {host: a}${w1}\n  - destination: {host: b}${w2}\n${match}`);
  };
  for (const section of ['http', 'tcp', 'tls']) {
    const zero = errorsOf(two(section, '', ''));
    assert.deepEqual(zero.map((e) => [e.path, e.code]), [[`spec.${section}[0].route`, ERR.INVALID_WEIGHTS]], section);
    assert.deepEqual(errorsOf(two(section, '\n    weight: 0', '\n    weight: 0')).map((e) => e.code), [ERR.INVALID_WEIGHTS], section);
    const neg = errorsOf(two(section, '\n    weight: -1', '\n    weight: 101'));
    assert.deepEqual(neg.map((e) => [e.path, e.code]), [[`spec.${section}[0].route[0].weight`, ERR.INVALID_WEIGHTS]], section);
    assert.deepEqual(errorsOf(two(section, '\n    weight: 0', '\n    weight: 100')), [], section);
  }
  assert.deepEqual(errorsOf(doc('VirtualService', `hosts: [a]\ntcp:\n- route:\n  - destination: {host: a}`)), []);
});

test('the file store rejects it (reported with file and line) and apply answers 400 naming file, line, resource and path', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-weights-'));
  const store = new FileConfigStore(dir, { rescanMs: 0, logger: () => {} });
  try {
    writeFileSync(join(dir, 'echo.yaml'), TCP_TWO_UNWEIGHTED);
    store.rescan();
    assert.equal(store.list('VirtualService').length, 0, 'the invalid VirtualService is not served');
    const e = store.errors().find((x) => x.code === ERR.INVALID_WEIGHTS);
    assert.ok(e, store.errors().map(formatValidationError).join('\n'));
    assert.match(formatValidationError(e), /echo\.yaml:14: VirtualService shop\/echo: spec\.tcp\[0\]\.route: total destination weight = 0/);

    const api = new ConfigApi(join(dir, 'applied'), store);
    const r = api.apply(TCP_TWO_UNWEIGHTED, 'mine.yaml');
    assert.equal(r.status, 400);
    assert.match(JSON.stringify(r.body), /mine\.yaml:14: VirtualService shop\/echo: spec\.tcp\[0\]\.route: total destination weight = 0.*TSMESH_ERR_INVALID_WEIGHTS/);
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the memory store refuses the set', () => {
  const store = new MemoryConfigStore();
  const configs = loadText(TCP_TWO_UNWEIGHTED).map((r) => r.config!).filter(Boolean);
  const r = store.apply(configs);
  assert.equal(r.ok, false);
  assert.ok(r.errors.some((e) => e.code === ERR.INVALID_WEIGHTS));
});
