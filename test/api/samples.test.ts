// Istio's own sample YAML must be accepted unmodified (read from the shared copy at test time).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadPaths, loadText } from '../../src/api/load.ts';
import { formatValidationError, isError } from '../../src/api/types.ts';
import { crossValidate, validateAll } from '../../src/api/validation/cross.ts';
import { ISTIO } from './helpers.ts';
import { ERR } from '../../src/api/errors.ts';

const S = join(ISTIO, 'samples');
const yamls = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.yaml')).map((f) => join(dir, f));

const bookinfoNet = yamls(join(S, 'bookinfo/networking'));
const bookinfoKube = yamls(join(S, 'bookinfo/platform/kube'));
const others = [join(S, 'httpbin/httpbin.yaml'), join(S, 'sleep/sleep.yaml'), join(S, 'curl/curl.yaml'), join(S, 'helloworld/helloworld.yaml'), ...yamls(join(S, 'tcp-echo'))];

test('the sample set is what we expect to cover', () => {
  assert.ok(bookinfoNet.length >= 20, `bookinfo networking files: ${bookinfoNet.length}`);
  assert.ok(bookinfoKube.length >= 2);
});

/** Sample files that set fields tsmesh does not enforce yet: accepted, with those warnings only. */
const NOT_ENFORCED: Record<string, string[]> = {};

for (const file of [...bookinfoNet, ...bookinfoKube, ...others]) {
  test(`${file.slice(S.length + 1)} parses and validates with zero problems (but fields not enforced yet)`, () => {
    const loaded = loadText(readFileSync(file, 'utf8'), { file });
    assert.ok(loaded.length > 0, 'no resources read');
    const all = loaded.flatMap((r) => r.errors);
    const unsupported = all.filter((p) => p.code === ERR.UNSUPPORTED_FIELD);
    assert.ok(unsupported.every((p) => p.severity === 'warning'));
    assert.deepEqual(unsupported.map((p) => `${p.line} ${p.path}`), NOT_ENFORCED[file.slice(S.length + 1)] ?? []);
    const problems = all.filter((p) => p.code !== ERR.UNSUPPORTED_FIELD);
    assert.deepEqual(problems.map(formatValidationError), []);
    assert.ok(loaded.every((r) => r.valid && r.config));
  });
}

test('Bookinfo VirtualServices reference only subsets that destination-rule-all.yaml defines', () => {
  const rules = loadPaths([join(S, 'bookinfo/networking/destination-rule-all.yaml')]).configs;
  for (const file of bookinfoNet.filter((f) => f.includes('virtual-service') || f.includes('gateway'))) {
    const vs = loadPaths([file]).configs;
    const found = crossValidate([...rules, ...vs]);
    assert.deepEqual(found.map(formatValidationError), [], file);
  }
});

test('Bookinfo with gateway, all DRs and all-v1 routes validates as one set with zero errors', () => {
  const set = loadPaths([
    join(S, 'bookinfo/platform/kube/bookinfo.yaml'),
    join(S, 'bookinfo/networking/bookinfo-gateway.yaml'),
    join(S, 'bookinfo/networking/destination-rule-all.yaml'),
    join(S, 'bookinfo/networking/virtual-service-all-v1.yaml'),
  ]);
  assert.equal(set.errors.length, 0);
  assert.ok(set.configs.length >= 20);
  assert.deepEqual(validateAll(set.configs).map(formatValidationError), []);
});

test('without its DestinationRules, virtual-service-all-v1.yaml has missing subsets (the cross check is live, as warnings)', () => {
  const vs = loadPaths([join(S, 'bookinfo/networking/virtual-service-all-v1.yaml')]).configs;
  const found = crossValidate(vs);
  assert.equal(found.length, 4);
  assert.ok(found.every((e) => !isError(e) && /Referenced host\+subset in destinationrule not found: "\w+\+v1"/.test(e.message)));
});

test('Kubernetes Gateway API samples are reported as unsupported kinds, naming the kind', () => {
  const dir = join(S, 'tcp-echo/gateway-api');
  const r = loadPaths([dir]);
  // The plain Services beside them are read; the Gateway API objects are not.
  assert.ok(r.configs.every((c) => c.kind === 'Service'), r.configs.map((c) => c.kind).join());
  assert.equal(r.errors.length, 3);
  for (const e of r.errors) {
    assert.notEqual(e.severity, 'warning');
    assert.match(e.message, /unsupported kind (Gateway|TCPRoute) \(gateway\.networking\.k8s\.io\/v1(alpha2)?\)/);
  }
});
