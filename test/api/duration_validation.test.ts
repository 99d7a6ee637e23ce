// Issue 7, bug 1 (api side): validation reads durations with the same reader the pilot
// translates with (src/api/duration.ts), so "accepted" and "what reaches the proxy" agree.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { durationMsOf } from '../../src/api/duration.ts';
import { ERR } from '../../src/api/errors.ts';
import { ISTIO_KINDS } from '../../src/api/kinds.ts';
import type { Config, IstioKind } from '../../src/api/types.ts';
import { validateConfig } from '../../src/api/validation/index.ts';
import { doc, errorsOf, ISTIO } from './helpers.ts';

const vsWith = (timeout: string) => doc('VirtualService', `hosts: [r]\nhttp:\n- route:\n  - destination: {host: r}\n  timeout: ${JSON.stringify(timeout)}`);
const drWith = (interval: string) => doc('DestinationRule', `host: r\ntrafficPolicy:\n  outlierDetection:\n    interval: ${JSON.stringify(interval)}`);

// Go's time.ParseDuration grammar (what Istio's CRD rule `duration(self) >= duration('1ms')` uses).
const CASES = ['1m30s', '.5s', '1.5s', '250ms', '1h', '1h2m3.5s', '+5s', '1.s', '0.001s', '1ms', '999us', '0', '-1s', '0s', 'abc', '3 seconds', '1', '5sec', ''];

test('every duration field accepts exactly what the shared reader reads as >= 1ms', () => {
  for (const d of CASES) {
    const ms = durationMsOf(d);
    const shouldPass = ms !== undefined && ms >= 1;
    for (const [what, y, path] of [
      ['timeout', vsWith(d), 'spec.http[0].timeout'],
      ['outlierDetection.interval', drWith(d), 'spec.trafficPolicy.outlierDetection.interval'],
    ] as const) {
      const errs = errorsOf(y).filter((e) => e.path === path);
      if (shouldPass) assert.deepEqual(errs.map((e) => e.message), [], `${what} ${JSON.stringify(d)} should be accepted (${ms} ms)`);
      else if (d !== '') {
        assert.equal(errs.length, 1, `${what} ${JSON.stringify(d)} should be rejected`);
        assert.equal(errs[0]!.code, ERR.INVALID_DURATION, `${what} ${JSON.stringify(d)}`);
      }
    }
  }
});

test('"+5s" (Go and CEL accept a sign) validates; "1m30s" and ".5s" validate', () => {
  for (const d of ['+5s', '1m30s', '.5s']) assert.deepEqual(errorsOf(vsWith(d)), [], d);
});

test('a duration below 1ms is rejected with the duration code, naming the field', () => {
  const errs = errorsOf(vsWith('500us'));
  assert.equal(errs.length, 1);
  assert.equal(errs[0]!.path, 'spec.http[0].timeout');
  assert.equal(errs[0]!.code, ERR.INVALID_DURATION);
  assert.match(errs[0]!.message, /greater than 1ms/);
});

/** Every field Istio's CRDs check with `duration(self)`, as a path of (field, isList) steps. */
function crdDurationFields(): Array<{ kind: IstioKind; apiVersion: string; steps: Array<[string, boolean]> }> {
  const out: Array<{ kind: IstioKind; apiVersion: string; steps: Array<[string, boolean]> }> = [];
  const crds = parseAllDocuments(readFileSync(join(ISTIO, 'manifests/charts/base/files/crd-all.gen.yaml'), 'utf8')).map((d) => d.toJS());
  for (const crd of crds) {
    if (crd?.kind !== 'CustomResourceDefinition' || !(ISTIO_KINDS as readonly string[]).includes(crd.spec.names.kind)) continue;
    const v = crd.spec.versions[0];
    const walk = (s: any, steps: Array<[string, boolean]>) => {
      if (s?.type === 'string' && /duration\(self\)/.test(JSON.stringify(s['x-kubernetes-validations'] ?? ''))) out.push({ kind: crd.spec.names.kind, apiVersion: `${crd.spec.group}/${v.name}`, steps });
      for (const [k, sub] of Object.entries<any>(s?.properties ?? {})) walk(sub.items ?? sub, [...steps, [k, sub.type === 'array']]);
    };
    walk(v.schema.openAPIV3Schema.properties.spec, []);
  }
  return out;
}

test('every duration field of every Istio CRD is read by the shared reader: a malformed one is rejected at its path', () => {
  const fields = crdDurationFields();
  assert.ok(fields.length >= 40, `${fields.length} duration fields`);
  const missed: string[] = [];
  for (const { kind, apiVersion, steps } of fields) {
    const spec: Record<string, any> = {};
    let cur = spec;
    let path = 'spec';
    steps.forEach(([k, isList], i) => {
      if (i === steps.length - 1) {
        cur[k] = '1x';
        path += `.${k}`;
        return;
      }
      const next = {};
      cur[k] = isList ? [next] : next;
      path += isList ? `.${k}[0]` : `.${k}`;
      cur = next;
    });
    const config: Config = { apiVersion, kind, metadata: { name: 'x', namespace: 'default' }, spec };
    const errs = validateConfig(config).filter((e) => e.path === path);
    // exponentialDelay is refused outright (not implemented), which is also a rejection.
    if (!errs.some((e) => e.code === ERR.INVALID_DURATION || /not supported/.test(e.message))) missed.push(`${kind} ${path}`);
  }
  assert.deepEqual(missed, []);
});
