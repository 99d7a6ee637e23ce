/**
 * The CRDs tsmesh install writes, against Istio's own CRD file (read in place from
 * ../shared/istio-data): the same names, versions, storage version and printer columns for every
 * kind tsmesh serves, and spec schemas whose every typed field has Istio's type, enum and
 * required list. Schemas must also be structural (every node typed or explicitly free-form),
 * which apiextensions.k8s.io/v1 requires (the API server test checks that for real).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ISTIO_KINDS } from '../../src/api/kinds.ts';
import { istioCrds } from '../../src/kube/crds/index.ts';
import { ISTIO_DATA } from '../helpers/istio_data.ts';

const istio = new Map<string, any>();
for (const d of parseAllDocuments(readFileSync(join(ISTIO_DATA, 'manifests/charts/base/files/crd-all.gen.yaml'), 'utf8'))) {
  const c = d.toJS();
  if (c?.kind === 'CustomResourceDefinition') istio.set(c.metadata.name, c);
}
const ours = istioCrds();

test('one CRD per Istio kind tsmesh serves, named as Istio names it', () => {
  assert.deepEqual(ours.map((c) => c.spec.names.kind).sort(), [...ISTIO_KINDS].sort());
  for (const c of ours) {
    const theirs = istio.get(c.metadata.name);
    assert.ok(theirs, `Istio has no CRD named ${c.metadata.name}`);
    assert.equal(c.spec.group, theirs.spec.group, c.metadata.name);
    assert.equal(c.spec.scope, theirs.spec.scope, c.metadata.name);
    const names = { ...theirs.spec.names };
    assert.deepEqual(c.spec.names, names, c.metadata.name);
  }
});

test('versions, storage version, status subresource and printer columns are Istio\'s', () => {
  for (const c of ours) {
    const theirs = istio.get(c.metadata.name);
    const summary = (vs: any[]) => vs.map((v) => ({
      name: v.name,
      served: v.served,
      storage: v.storage,
      status: v.subresources?.status !== undefined,
      columns: (v.additionalPrinterColumns ?? []).map((p: any) => `${p.name} ${p.type} ${p.jsonPath}`),
    })).sort((a, b) => a.name.localeCompare(b.name));
    assert.deepEqual(summary(c.spec.versions), summary(theirs.spec.versions), c.metadata.name);
    assert.equal(c.spec.versions.filter((v) => v.storage).length, 1, `${c.metadata.name}: exactly one storage version`);
  }
});

test('every spec field of Istio\'s schema is in ours, with Istio\'s type, enum and required fields where ours is typed', () => {
  const problems: string[] = [];
  let typed = 0;
  const walk = (a: any, b: any, path: string) => {
    if (!a) return void problems.push(`${path}: missing`);
    const kind = (s: any) => (s['x-kubernetes-int-or-string'] ? 'int-or-string' : s.type);
    if (kind(a) === undefined) {
      // Free-form where the schema package predates the field: allowed, but never with children.
      if (!a['x-kubernetes-preserve-unknown-fields'] || a.properties || a.items) problems.push(`${path}: untyped node that is not free-form`);
      return;
    }
    typed++;
    if (kind(a) !== kind(b)) return void problems.push(`${path}: type ${kind(a)}, Istio's is ${kind(b)}`);
    if (JSON.stringify(a.enum) !== JSON.stringify(b.enum)) problems.push(`${path}: enum ${JSON.stringify(a.enum)}, Istio's ${JSON.stringify(b.enum)}`);
    const req = (s: any) => JSON.stringify([...(s.required ?? [])].sort());
    if (req(a) !== req(b)) problems.push(`${path}: required ${req(a)}, Istio's ${req(b)}`);
    for (const k of Object.keys(b.properties ?? {})) walk(a.properties?.[k], b.properties[k], `${path}.${k}`);
    for (const k of Object.keys(a.properties ?? {})) if (!b.properties?.[k]) problems.push(`${path}.${k}: not in Istio's schema`);
    if (b.items) walk(a.items, b.items, `${path}[]`);
    if (typeof b.additionalProperties === 'object') walk(a.additionalProperties, b.additionalProperties, `${path}{}`);
  };
  for (const c of ours) {
    const theirs = istio.get(c.metadata.name);
    for (const v of c.spec.versions) {
      const tv = theirs.spec.versions.find((x: any) => x.name === v.name);
      const root = v.schema.openAPIV3Schema as any;
      const troot = tv.schema.openAPIV3Schema;
      walk(root.properties.spec, troot.properties.spec, `${c.spec.names.kind}/${v.name} spec`);
      assert.deepEqual([...(root.required ?? [])], [...(troot.required ?? [])], `${c.metadata.name} ${v.name}: top-level required`);
      // Istio's status is free-form too (x-kubernetes-preserve-unknown-fields): what the leader writes is kept.
      assert.equal(root.properties.status['x-kubernetes-preserve-unknown-fields'], true);
      assert.equal(troot.properties.status['x-kubernetes-preserve-unknown-fields'], true);
    }
  }
  assert.deepEqual(problems, []);
  assert.ok(typed > 0);
});

test('istioCrds() hands out copies: a caller changing one does not change the next install', () => {
  const a = istioCrds();
  a[0].spec.versions[0].served = false as true;
  assert.equal(istioCrds()[0].spec.versions[0].served, true);
});
