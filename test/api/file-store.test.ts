import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileConfigStore } from '../../src/api/file-store.ts';
import type { ConfigEvent, ValidationError } from '../../src/api/types.ts';
import { doc } from './helpers.ts';

const vs = (name: string, timeout: string) => doc('VirtualService', `hosts: [${name}]\nhttp:\n- route:\n  - destination: {host: ${name}}\n  timeout: ${timeout}`, { name });

/** Resolves with the next batch of events (fails the test after `ms`). */
function nextBatch(store: FileConfigStore, ms = 3000): Promise<ConfigEvent[]> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => { off(); reject(new Error('no config event within ' + ms + 'ms')); }, ms);
    const off = store.watch((e) => { clearTimeout(t); off(); resolve(e); });
  });
}
function nextErrors(store: FileConfigStore, ms = 3000): Promise<ValidationError[]> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => { off(); reject(new Error('no error report within ' + ms + 'ms')); }, ms);
    const off = store.onErrors((e) => { clearTimeout(t); off(); resolve(e); });
  });
}

function withDir(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsmesh-filestore-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

test('reads the tree at start, then follows add, update and delete (nested dirs too)', withDir(async (dir) => {
  writeFileSync(join(dir, 'a.yaml'), vs('a', '1s'));
  const logs: string[] = [];
  const store = new FileConfigStore(dir, { logger: (l) => logs.push(l) });
  try {
    assert.deepEqual(store.all().map((c) => c.metadata.name), ['a']);

    mkdirSync(join(dir, 'team'));
    let batch = nextBatch(store);
    writeFileSync(join(dir, 'team', 'b.yml'), vs('b', '1s'));
    assert.deepEqual((await batch).map((e) => `${e.type} ${e.config.metadata.name}`), ['add b']);

    batch = nextBatch(store);
    writeFileSync(join(dir, 'a.yaml'), vs('a', '3s'));
    const upd = await batch;
    assert.deepEqual(upd.map((e) => `${e.type} ${e.config.metadata.name}`), ['update a']);
    assert.equal(upd[0].old?.spec.http[0].timeout, '1s');

    batch = nextBatch(store);
    unlinkSync(join(dir, 'team', 'b.yml'));
    assert.deepEqual((await batch).map((e) => `${e.type} ${e.config.metadata.name}`), ['delete b']);
    assert.equal(store.get('VirtualService', 'b', 'default'), undefined);
    assert.deepEqual(logs, []);
  } finally {
    store.close();
  }
}));

test('rewriting a file with identical content fires nothing; unrelated files are ignored', withDir(async (dir) => {
  writeFileSync(join(dir, 'a.yaml'), vs('a', '1s'));
  const store = new FileConfigStore(dir, { logger: () => {}, rescanMs: 100 });
  try {
    const seen: ConfigEvent[][] = [];
    store.watch((e) => seen.push(e));
    writeFileSync(join(dir, 'a.yaml'), vs('a', '1s'));
    writeFileSync(join(dir, 'notes.txt'), 'not config');
    await new Promise((r) => setTimeout(r, 400));
    assert.deepEqual(seen, []);
  } finally {
    store.close();
  }
}));

test('an invalid edit is reported (file, field, reason) and the last good version keeps serving; delete removes it', withDir(async (dir) => {
  const file = join(dir, 'reviews.yaml');
  writeFileSync(file, vs('reviews', '2s'));
  const logs: string[] = [];
  const store = new FileConfigStore(dir, { logger: (l) => logs.push(l) });
  try {
    const events: ConfigEvent[][] = [];
    store.watch((e) => events.push(e));
    const reported = nextErrors(store);
    writeFileSync(file, vs('reviews', 'abc'));
    const errs = await reported;
    const e = errs.find((x) => x.severity !== 'warning');
    assert.ok(e, JSON.stringify(errs));
    assert.equal(e.file, file);
    assert.equal(e.kind, 'VirtualService');
    assert.equal(e.name, 'reviews');
    assert.equal(e.path, 'spec.http[0].timeout');
    assert.match(e.message, /invalid duration "abc"/);
    assert.ok(logs.some((l) => l.includes(file) && l.includes('spec.http[0].timeout')), logs.join('\n'));
    assert.equal(store.get('VirtualService', 'reviews', 'default')?.spec.http[0].timeout, '2s');
    assert.deepEqual(events, [], 'a rejected edit changes nothing that is served');

    // A YAML syntax error is no better: still the last good version.
    const reported2 = nextErrors(store);
    writeFileSync(file, 'apiVersion: [');
    assert.ok((await reported2).some((x) => /YAML syntax error/.test(x.message)));
    assert.equal(store.get('VirtualService', 'reviews', 'default')?.spec.http[0].timeout, '2s');

    const gone = nextBatch(store);
    unlinkSync(file);
    assert.deepEqual((await gone).map((x) => `${x.type} ${x.config.metadata.name}`), ['delete reviews']);
    assert.equal(store.get('VirtualService', 'reviews', 'default'), undefined);
    assert.deepEqual(store.errors(), []);
  } finally {
    store.close();
  }
}));

test('the same resource in two files: the first file (by path) is served, the other reported', withDir(async (dir) => {
  writeFileSync(join(dir, '1.yaml'), vs('x', '1s'));
  writeFileSync(join(dir, '2.yaml'), vs('x', '9s'));
  const store = new FileConfigStore(dir, { logger: () => {} });
  try {
    assert.equal(store.get('VirtualService', 'x', 'default')?.spec.http[0].timeout, '1s');
    const dup = store.errors().find((e) => e.file === join(dir, '2.yaml'));
    assert.ok(dup);
    assert.match(dup.message, /also defined in .*1\.yaml; that definition is served/);
  } finally {
    store.close();
  }
}));

test('without fs events, the periodic rescan still picks changes up', withDir(async (dir) => {
  const store = new FileConfigStore(dir, { logger: () => {}, rescanMs: 100, debounceMs: 60_000 });
  try {
    const batch = nextBatch(store);
    writeFileSync(join(dir, 'late.json'), JSON.stringify({ apiVersion: 'networking.istio.io/v1', kind: 'Gateway', metadata: { name: 'gw' }, spec: { servers: [{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['*'] }] } }));
    assert.deepEqual((await batch).map((e) => `${e.type} ${e.config.kind}`), ['add Gateway']);
  } finally {
    store.close();
  }
}));
