import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfigs, parseDocuments } from '../../src/api/yaml.ts';
import { formatValidationError } from '../../src/api/types.ts';
import { ERR } from '../../src/api/errors.ts';

const VS = (name: string, ns?: string) => `apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata:
  name: ${name}${ns ? `\n  namespace: ${ns}` : ''}
spec:
  hosts: [${name}]
  http:
  - route:
    - destination: {host: ${name}}`;

test('multi-document YAML keeps file and document index; empty documents are skipped', () => {
  const text = `${VS('a')}\n---\n# only a comment\n---\n${VS('b', 'shop')}\n`;
  const { configs, errors } = parseConfigs(text, { file: 'x.yaml' });
  assert.deepEqual(errors, []);
  assert.deepEqual(configs.map((c) => [c.metadata.name, c.metadata.namespace, c.origin?.file, c.origin?.document]), [
    ['a', 'default', 'x.yaml', 0],
    ['b', 'shop', 'x.yaml', 2],
  ]);
  assert.equal(configs[0].apiVersion, 'networking.istio.io/v1beta1');
  assert.deepEqual(configs[0].spec.hosts, ['a']);
});

test('the caller can set the default namespace; an explicit one wins', () => {
  const { configs } = parseConfigs(`${VS('a')}\n---\n${VS('b', 'shop')}`, { namespace: 'team1' });
  assert.deepEqual(configs.map((c) => c.metadata.namespace), ['team1', 'shop']);
});

test('JSON input and kind: List are read; List items remember their index', () => {
  const json = JSON.stringify({
    apiVersion: 'v1',
    kind: 'List',
    items: [
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: { ports: [{ port: 80 }] } },
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'sa' } },
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: { env: 'prod' } } },
    ],
  });
  const { configs, errors } = parseConfigs(json, { file: 'l.json' });
  assert.deepEqual(errors, []);
  assert.deepEqual(configs.map((c) => `${c.kind}:${c.metadata.namespace}:${c.origin?.item}`), ['Service:default:0', 'ServiceAccount:default:1', 'Namespace::2']);
});

test('unknown kinds are errors naming the kind (with a suggestion for typos); other Kubernetes kinds are ignored with a warning', () => {
  const text = `apiVersion: networking.istio.io/v1\nkind: VirtualSevice\nmetadata: {name: a}\n---\napiVersion: networking.istio.io/v1alpha3\nkind: EnvoyFilter\nmetadata: {name: b}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\napiVersion: networking.istio.io/v2\nkind: VirtualService\nmetadata: {name: d}`;
  const { configs, errors } = parseConfigs(text, { file: 'k.yaml' });
  assert.equal(configs.length, 0);
  assert.equal(errors.length, 4);
  assert.match(errors[0].message, /unsupported kind VirtualSevice \(networking\.istio\.io\/v1\); did you mean VirtualService\?/);
  assert.match(errors[1].message, /unsupported kind EnvoyFilter/);
  assert.equal(errors[2].severity, 'warning');
  assert.match(errors[2].message, /ignored ConfigMap \(v1\)/);
  assert.match(errors[3].message, /apiVersion networking\.istio\.io\/v2 is not served for VirtualService; use one of networking\.istio\.io\/v1, /);
  assert.equal(errors[3].path, 'apiVersion');
  assert.equal(errors[3].line, 13);
});

test('YAML syntax errors and missing names are reported with a line, not thrown', () => {
  const text = `${VS('ok')}\n---\nspec: [unclosed\n---\napiVersion: v1\nkind: Service\nmetadata: {}\n`;
  const { configs, errors } = parseConfigs(text, { file: 'bad.yaml' });
  assert.deepEqual(configs.map((c) => c.metadata.name), ['ok']);
  assert.equal(errors.length, 2);
  assert.match(formatValidationError(errors[0]), /^bad\.yaml:\d+:\d+: YAML syntax error \(document 1\)/);
  assert.equal(errors[1].path, 'metadata.name');
  assert.match(errors[1].message, /required/);
});

test('a misspelled top-level field is an unknown field error', () => {
  const { errors } = parseConfigs(`apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: g}\nspecs: {}`);
  assert.equal(errors.length, 1);
  assert.equal(errors[0].path, 'specs');
  assert.match(errors[0].message, /unknown field "specs"; did you mean "spec"\?/);
});

test('line() points at nested fields, falling back to the nearest existing parent', () => {
  const [e] = parseDocuments(`${VS('a')}\n`);
  assert.equal(e.line('spec.http[0].route[0].destination.host'), 9);
  assert.equal(e.line('spec.http[0].timeout'), 8);
  assert.equal(e.line('metadata.name'), 4);
});

// Issue 7, bug 7: the line and column where the parser stopped, not line 1 of the file.
test('a YAML syntax error deep in a multi-document file is reported at its line and column', () => {
  const text = `${VS('ok')}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: broken
spec:
  hosts: [reviews
  http:
  - route:
    - destination: {host: reviews}
`;
  const firstLines = VS('ok').split('\n').length;
  const { configs, errors } = parseConfigs(text, { file: 'vs.yaml' });
  assert.deepEqual(configs.map((c) => c.metadata.name), ['ok']);
  assert.ok(errors.length >= 1);
  for (const e of errors) assert.equal(e.code, ERR.YAML_SYNTAX);
  // `hosts: [reviews` is on line firstLines + 7; the parser stops at the next key, where the list should have closed.
  assert.equal(`${errors[0]!.line}:${errors[0]!.column}`, `${firstLines + 8}:3`);
  assert.match(formatValidationError(errors[0]!), new RegExp(`^vs\\.yaml:${errors[0]!.line}:${errors[0]!.column}: YAML syntax error \\(document 1\\)`));
  const single = parseConfigs('a: b\nkind: x\n  foo: [\n', { file: 'g.yaml' }).errors;
  assert.ok(single.every((e) => e.line !== undefined && e.column !== undefined && e.code === ERR.YAML_SYNTAX));
  assert.deepEqual(single.map((e) => `${e.line}:${e.column}`)[0], '2:7');
});
