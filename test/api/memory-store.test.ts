import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryConfigStore } from '../../src/api/memory-store.ts';
import type { ConfigEvent } from '../../src/api/types.ts';
import { parseConfigs } from '../../src/api/yaml.ts';
import { doc } from './helpers.ts';

const parse = (y: string) => parseConfigs(y, { file: 'mem.yaml' }).configs;
const vs = (name: string, timeout = '1s') => doc('VirtualService', `hosts: [${name}]\nhttp:\n- route:\n  - destination: {host: ${name}}\n  timeout: ${timeout}`, { name });

test('apply adds, re-apply of the same content is silent, a change is an update, delete removes', () => {
  const store = new MemoryConfigStore();
  const batches: ConfigEvent[][] = [];
  store.watch((e) => batches.push(e));
  const r1 = store.apply(parse(`${vs('a')}\n---\n${vs('b')}`));
  assert.equal(r1.ok, true);
  assert.deepEqual(batches.at(-1)!.map((e) => `${e.type} ${e.config.metadata.name}`), ['add a', 'add b']);
  store.apply(parse(vs('a')));
  assert.equal(batches.length, 1, 'identical content must not fire');
  store.apply(parse(vs('a', '2s')));
  assert.equal(batches.length, 2);
  const upd = batches[1][0];
  assert.equal(upd.type, 'update');
  assert.equal(upd.old?.spec.http[0].timeout, '1s');
  assert.equal(store.get('VirtualService', 'a', 'default')?.spec.http[0].timeout, '2s');
  store.delete([{ kind: 'VirtualService', metadata: { name: 'b', namespace: 'default' } }]);
  assert.deepEqual(batches[2].map((e) => `${e.type} ${e.config.metadata.name}`), ['delete b']);
  assert.deepEqual(store.list('VirtualService').map((c) => c.metadata.name), ['a']);
});

test('a set with one invalid config is rejected whole, and the error names file, resource, path', () => {
  const store = new MemoryConfigStore();
  store.apply(parse(vs('a')));
  const errs: unknown[] = [];
  store.onErrors((e) => errs.push(e));
  const r = store.apply(parse(`${vs('a', '5s')}\n---\n${vs('b', 'abc')}`));
  assert.equal(r.ok, false);
  assert.equal(store.get('VirtualService', 'a', 'default')?.spec.http[0].timeout, '1s', 'nothing applied');
  assert.equal(store.get('VirtualService', 'b', 'default'), undefined);
  const e = store.errors().find((x) => x.name === 'b');
  assert.ok(e);
  assert.equal(e.file, 'mem.yaml');
  assert.equal(e.path, 'spec.http[0].timeout');
  assert.equal(errs.length, 1);
});

test('cross-resource problems are reported but the resource is served (Istio accepts it too)', () => {
  const store = new MemoryConfigStore();
  const r = store.apply(parse(doc('VirtualService', `hosts: [r]\nhttp:\n- route:\n  - destination: {host: r, subset: v9}`, { name: 'r' })));
  assert.equal(r.ok, true);
  assert.ok(store.get('VirtualService', 'r', 'default'));
  assert.match(store.errors()[0].message, /Referenced host\+subset in destinationrule not found: "r\+v9"/);
  store.apply(parse(doc('DestinationRule', `host: r\nsubsets:\n- name: v9\n  labels: {version: v9}`, { name: 'r' })));
  assert.deepEqual(store.errors(), []);
});
