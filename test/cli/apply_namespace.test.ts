/**
 * `tsmesh apply -n`: namespaced resources without a namespace get it (the rest of the file as it
 * was), cluster-scoped ones are left alone, one naming another namespace is refused as kubectl does.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { withNamespace } from '../../src/cli/apply_client.ts';
import { ISTIO_DATA } from '../helpers/istio_data.ts';
import { NO_ISTIO_DATA } from '../helpers/demo.ts';

test("Istio's httpbin.yaml: every resource gets the namespace, comments kept", { skip: NO_ISTIO_DATA }, () => {
  const text = readFileSync(`${ISTIO_DATA}/samples/httpbin/httpbin.yaml`, 'utf8');
  const r = withNamespace({ name: 'httpbin.yaml', text }, 'foo');
  assert.deepEqual(r.errors, []);
  const docs = parseAllDocuments(r.file.text).map((d) => d.toJS()).filter(Boolean);
  assert.deepEqual(docs.map((d) => `${d.kind} ${d.metadata.namespace}/${d.metadata.name}`), ['ServiceAccount foo/httpbin', 'Service foo/httpbin', 'Deployment foo/httpbin']);
  assert.match(r.file.text, /# httpbin service/);
});

test('Namespace resources stay cluster-scoped; a matching namespace is fine; another one is refused with kubectl\'s message', () => {
  const text = 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: legacy\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: a\n  namespace: foo\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: b\n  namespace: bar\n';
  const r = withNamespace({ name: 'x.yaml', text }, 'foo');
  assert.deepEqual(r.errors, [`x.yaml: ServiceAccount bar/b: the namespace from the provided object "bar" does not match the namespace "foo". You must pass '--namespace=bar' to perform this operation.`]);
  const ok = withNamespace({ name: 'x.yaml', text: text.split('---\n').slice(0, 2).join('---\n') }, 'foo');
  assert.deepEqual(ok.errors, []);
  const docs = parseAllDocuments(ok.file.text).map((d) => d.toJS());
  assert.equal(docs[0].metadata.namespace, undefined);
  assert.equal(docs[1].metadata.namespace, 'foo');
});
