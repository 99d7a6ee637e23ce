/**
 * The validating webhook's handler answers as `tsmesh validate` does for the same YAML: refused
 * with exactly validate's lines (less file:line), allowed with validate's warnings for fields
 * not enforced yet, allowed silently for a valid object, and never in the way of a delete.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { validateCommand } from '../../src/cli/validate.ts';
import { validateHandler } from '../../src/kube/webhook/validate.ts';
import type { AdmissionRequest } from '../../src/kube/webhook/types.ts';
import { ISTIO_DATA } from '../helpers/istio_data.ts';
import { INVALID_VIRTUAL_SERVICE } from '../helpers/invalid_virtual_service.ts';

/** What `tsmesh validate -q -f <file>` prints for `yaml`, each line without its "file:line: " position. */
async function validateLines(yaml: string): Promise<{ code: number; lines: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-vwh-'));
  try {
    const file = join(dir, 'vs.yaml');
    writeFileSync(file, yaml);
    const lines: string[] = [];
    const code = await validateCommand(['-q', '-f', file], { log: (l) => lines.push(l), error: (l) => lines.push(l) });
    const prefix = new RegExp(`^(warning: )?${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:\\d+(:\\d+)?: `);
    return { code, lines: lines.map((l) => l.replace(prefix, '$1')) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** An AdmissionRequest as the API server sends it for `kubectl apply` of `yaml` in `namespace`. */
function request(yaml: string, operation: AdmissionRequest['operation'] = 'CREATE', namespace = 'default'): AdmissionRequest {
  const object = parse(yaml);
  // The API server adds server-side metadata before admission; validation must not trip on it.
  object.metadata = { ...object.metadata, namespace, uid: 'd9b1c0de-0000-4000-8000-000000000001', generation: 1, creationTimestamp: '2026-01-01T00:00:00Z', managedFields: [{ manager: 'kubectl', operation: 'Update' }] };
  return {
    uid: 'req-1',
    kind: { group: 'networking.istio.io', version: 'v1', kind: object.kind },
    resource: { group: 'networking.istio.io', version: 'v1', resource: 'virtualservices' },
    name: object.metadata.name,
    namespace,
    operation,
    userInfo: { username: 'admin' },
    object: operation === 'DELETE' ? undefined : object,
    oldObject: operation === 'DELETE' ? object : undefined,
  };
}

/** The shared invalid VirtualService with a second error, so every line validate prints is checked. */
const INVALID = `${INVALID_VIRTUAL_SERVICE}    retries:
      attempts: -1
`;

test('an invalid VirtualService is refused with exactly the lines tsmesh validate prints', async () => {
  const v = await validateLines(INVALID);
  assert.equal(v.code, 1);
  assert.ok(v.lines.length >= 1);
  const r = await validateHandler(request(INVALID));
  assert.equal(r.uid, 'req-1');
  assert.equal(r.allowed, false);
  assert.equal(r.status?.code, 400);
  assert.deepEqual(r.status?.message?.split('\n'), v.lines);
  assert.match(r.status!.message!, /^VirtualService default\/reviews-bad: spec\.http\[0\]\.timeout: invalid duration "1x"/m);
});

test('the namespace of the request is the one named in the message', async () => {
  const r = await validateHandler(request(INVALID, 'UPDATE', 'bookinfo'));
  assert.equal(r.allowed, false);
  assert.match(r.status!.message!, /^VirtualService bookinfo\/reviews-bad: /);
});

test("Istio's bookinfo virtual services are allowed, with no warnings", async () => {
  const dir = join(ISTIO_DATA, 'samples/bookinfo/networking');
  for (const f of ['virtual-service-all-v1.yaml', 'virtual-service-reviews-50-v3.yaml', 'bookinfo-gateway.yaml', 'destination-rule-all.yaml']) {
    for (const doc of readFileSync(join(dir, f), 'utf8').split(/^---$/m).filter((d) => d.trim())) {
      const r = await validateHandler(request(doc));
      assert.equal(r.allowed, true, `${f}: ${r.status?.message}`);
      assert.equal(r.warnings, undefined, `${f}: ${r.warnings}`);
    }
  }
});

test('a field tsmesh accepts but does not enforce: allowed, with validate\'s warning', async () => {
  const yaml = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: stats
spec:
  hosts: [reviews]
  http:
  - match:
    - uri: {prefix: /}
      statPrefix: reviews
    route:
    - destination: {host: reviews}
`;
  const v = await validateLines(yaml);
  assert.equal(v.code, 0);
  assert.ok(v.lines.length >= 1, 'validate warns');
  const r = await validateHandler(request(yaml));
  assert.equal(r.allowed, true);
  assert.deepEqual(r.warnings, v.lines);
  assert.match(r.warnings![0], /TSMESH_ERR_UNSUPPORTED_FIELD/);
});

test('a delete is allowed without looking at the object', async () => {
  const r = await validateHandler(request(INVALID, 'DELETE'));
  assert.deepEqual(r, { uid: 'req-1', allowed: true });
});
