// Issue 7, bug 6: a misspelt field at any depth is an error naming its path and the nearest
// known name, as `kubectl apply --validate=strict` reports it; known fields come from Istio's
// CRDs (src/api/fields/istio_fields.gen.ts, regenerated from crd-all.gen.yaml and compared here).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ERR } from '../../src/api/errors.ts';
import { generate } from '../../src/api/fields/generate.ts';
import { loadPaths, loadText } from '../../src/api/load.ts';
import { formatValidationError } from '../../src/api/types.ts';
import { doc, errorsOf, ISTIO } from './helpers.ts';

test('the committed field tree is what Istio\'s CRDs say (regenerate with src/api/fields/generate.ts)', () => {
  const crds = readFileSync(join(ISTIO, 'manifests/charts/base/files/crd-all.gen.yaml'), 'utf8');
  const committed = readFileSync(new URL('../../src/api/fields/istio_fields.gen.ts', import.meta.url), 'utf8');
  assert.equal(committed, generate(crds));
});

/** kind, spec YAML with one misspelling, the path reported, the suggestion. */
const MISSPELLINGS: Array<[string, string, string, string]> = [
  ['VirtualService', 'hosts: [r]\nhttp:\n- route:\n  - destination: {host: r}\n  timout: 5s', 'spec.http[0].timout', 'timeout'],
  ['VirtualService', 'hosts: [r]\nhttp:\n- route:\n  - destination: {host: r}\n  retries:\n    attempts: 3\n    perTryTimout: 2s', 'spec.http[0].retries.perTryTimout', 'perTryTimeout'],
  ['VirtualService', 'hosts: [r]\nhttp:\n- match:\n  - uri: {prefx: /a}\n  route:\n  - destination: {host: r}', 'spec.http[0].match[0].uri.prefx', 'prefix'],
  ['VirtualService', 'hosts: [r]\nhttp:\n- match:\n  - headers:\n      x-user: {exct: a}\n  route:\n  - destination: {host: r}', 'spec.http[0].match[0].headers.x-user.exct', 'exact'],
  ['VirtualService', 'hosts: [r]\ntcp:\n- route:\n  - destination: {host: r, port: {numbr: 9000}}', 'spec.tcp[0].route[0].destination.port.numbr', 'number'],
  ['VirtualService', 'hosts: [r]\nhttp:\n- route:\n  - destination: {host: r}\n  fault:\n    delay:\n      fixedDelay: 1s\n      percentage: {vaule: 10}', 'spec.http[0].fault.delay.percentage.vaule', 'value'],
  ['DestinationRule', 'host: r\ntrafficPolcy:\n  tls: {mode: ISTIO_MUTUAL}', 'spec.trafficPolcy', 'trafficPolicy'],
  ['DestinationRule', 'host: r\nsubsets:\n- name: v1\n  labels: {version: v1}\n  trafficPolicy:\n    connectionPool:\n      tcp: {maxConnection: 10}', 'spec.subsets[0].trafficPolicy.connectionPool.tcp.maxConnection', 'maxConnections'],
  ['DestinationRule', 'host: r\ntrafficPolicy:\n  loadBalancer:\n    consistentHash: {httpHeaderNme: x-user}', 'spec.trafficPolicy.loadBalancer.consistentHash.httpHeaderNme', 'httpHeaderName'],
  ['Gateway', 'selector: {istio: ingressgateway}\nservers:\n- port: {number: 443, name: https, protocol: HTTPS}\n  hosts: ["*"]\n  tls: {mode: SIMPLE, credentialNme: cert}', 'spec.servers[0].tls.credentialNme', 'credentialName'],
  ['ServiceEntry', 'hosts: [api.example.com]\nports:\n- {number: 443, name: https, protocol: TLS}\nresolution: DNS\nlocaton: MESH_EXTERNAL', 'spec.locaton', 'location'],
  ['ServiceEntry', 'hosts: [db.example.com]\nports:\n- {number: 5432, name: tcp, protocol: TCP, targetPrt: 5433}\nresolution: STATIC\nendpoints:\n- address: 10.0.0.1', 'spec.ports[0].targetPrt', 'targetPort'],
  ['AuthorizationPolicy', 'action: ALLOW\nrules:\n- from:\n  - source: {principal: ["cluster.local/ns/default/sa/a"]}', 'spec.rules[0].from[0].source.principal', 'principals'],
  ['PeerAuthentication', 'mtls: {mod: STRICT}', 'spec.mtls.mod', 'mode'],
  ['Sidecar', 'egress:\n- hosts: ["./*"]\n  prt: {number: 80}', 'spec.egress[0].prt', 'port'],
];

for (const [kind, spec, path, near] of MISSPELLINGS) {
  test(`${kind}: ${path} is an unknown field ("did you mean ${near}?")`, () => {
    const errs = errorsOf(doc(kind, spec));
    const hits = errs.filter((e) => e.code === ERR.UNKNOWN_FIELD);
    assert.equal(hits.length, 1, errs.map(formatValidationError).join('\n'));
    assert.equal(hits[0]!.path, path);
    assert.match(hits[0]!.message, new RegExp(`did you mean "${near}"\\?`));
    assert.equal(hits[0]!.kind, kind);
  });
}

test('snake_case and wrong case find the camelCase field; a name nothing resembles gets no suggestion', () => {
  const snake = errorsOf(doc('VirtualService', 'hosts: [r]\nhttp:\n- route:\n  - destination: {host: r}\n  retries: {attempts: 2, per_try_timeout: 1s}'));
  assert.match(snake.find((e) => e.code === ERR.UNKNOWN_FIELD)?.message ?? '', /"per_try_timeout"; did you mean "perTryTimeout"\?/);
  const odd = errorsOf(doc('Gateway', 'selector: {istio: ingressgateway}\nservers:\n- port: {number: 80, name: http, protocol: HTTP}\n  hosts: ["*"]\n  zzzzzzzz: 1'));
  const e = odd.find((x) => x.code === ERR.UNKNOWN_FIELD);
  assert.equal(e?.path, 'spec.servers[0].zzzzzzzz');
  assert.equal(e?.message, 'unknown field "zzzzzzzz"');
});

test('free-form values are not checked (labels, headers to set, a Struct)', () => {
  const y = doc('VirtualService', 'hosts: [r]\nhttp:\n- match:\n  - sourceLabels: {anything: goes}\n  headers:\n    request:\n      set: {x-anything: "1"}\n  route:\n  - destination: {host: r}');
  assert.deepEqual(errorsOf(y).map(formatValidationError), []);
});

test('in a multi-document file the unknown field names its own line', () => {
  const text = `${doc('DestinationRule', 'host: a', { name: 'a' })}---\n${doc('DestinationRule', 'host: r\ntrafficPolcy:\n  tls: {mode: ISTIO_MUTUAL}', { name: 'r' })}`;
  const errs = loadText(text, { file: 'dr.yaml' }).flatMap((r) => r.errors);
  assert.equal(errs.length, 1);
  assert.equal(formatValidationError(errs[0]!), 'dr.yaml:16: DestinationRule default/r: spec.trafficPolcy: unknown field "trafficPolcy"; did you mean "trafficPolicy"? [TSMESH_ERR_UNKNOWN_FIELD]');
});

test('no field of any Istio sample or analyzer input is flagged unknown', () => {
  const r = loadPaths([join(ISTIO, 'samples'), join(ISTIO, 'pkg/config/analysis/analyzers/testdata')]);
  assert.ok(r.resources > 500, `${r.resources} resources`);
  assert.deepEqual(r.errors.filter((e) => e.code === ERR.UNKNOWN_FIELD).map(formatValidationError), []);
});
