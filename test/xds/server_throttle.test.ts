import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Connection, WatchState, mergeOutgoing, type Outgoing } from '../../src/xds/server/connection.ts';
import { SendThrottle } from '../../src/xds/server/throttle.ts';
import type { Proxy } from '../../src/pilot/types.ts';

const entry = (name: string, hash = name) => ({ name, hash, any: { type_url: 't', value: new Uint8Array() }, framed: Buffer.alloc(0) });
const out = (typeUrl: string, nonce: string, names: string[], removed: string[] = [], full = false): Outgoing => ({
  typeUrl,
  version: `v-${nonce}`,
  nonce,
  resources: names.map((n) => entry(n, `${n}@${nonce}`)),
  removed,
  full,
});

test('throttle: at most `limit` holders, waiters granted in arrival order, cancelled waiters skipped', () => {
  const t = new SendThrottle(2);
  const granted: string[] = [];
  t.acquire(() => granted.push('a'));
  t.acquire(() => granted.push('b'));
  t.acquire(() => granted.push('c'));
  const cancelD = t.acquire(() => granted.push('d'));
  t.acquire(() => granted.push('e'));
  assert.deepEqual(granted, ['a', 'b']);
  assert.equal(t.queued, 3);
  cancelD();
  t.release();
  assert.deepEqual(granted, ['a', 'b', 'c']);
  t.release();
  assert.deepEqual(granted, ['a', 'b', 'c', 'e']);
  t.release();
  t.release();
  assert.equal(t.active, 0);
  t.acquire(() => granted.push('f'));
  assert.equal(t.active, 1);
});

test('throttle: a byte budget across holders; one larger than the budget goes alone; FIFO holds a small waiter behind a large one', () => {
  const t = new SendThrottle(10, 100);
  const granted: string[] = [];
  t.acquire(() => granted.push('a60'), 60);
  t.acquire(() => granted.push('b30'), 30);
  t.acquire(() => granted.push('c50'), 50); // 140 > 100: waits
  t.acquire(() => granted.push('d5'), 5); // fits, but arrived after c
  assert.deepEqual(granted, ['a60', 'b30']);
  assert.equal(t.bytes, 90);
  t.release(60);
  assert.deepEqual(granted, ['a60', 'b30', 'c50', 'd5']);
  assert.equal(t.bytes, 85);
  t.release(30);
  t.release(50);
  t.grow(20); // d's next response is larger: charged without waiting
  assert.equal(t.bytes, 25);
  t.acquire(() => granted.push('e500'), 500); // larger than the budget: waits until nothing is held
  assert.equal(granted.length, 4);
  t.release(25);
  assert.deepEqual(granted.slice(-1), ['e500']);
  assert.equal(t.bytes, 500);
  t.release(500);
  assert.equal(t.active, 0);
  assert.equal(t.bytes, 0);
});

test('connection: charged for its largest queued response, more if a larger one comes, all of it given back', () => {
  const throttle = new SendThrottle(10, 1000);
  const writes: Array<{ out: Outgoing; done: () => void }> = [];
  const conn = new Connection('a', { id: 'p' } as Proxy, { id: 'a' }, 'sotw', 'peer', (o, done) => writes.push({ out: o, done }), { throttle, sendTimeoutMs: 60_000, lightBytes: 0 });
  const w = new WatchState();
  const sized = (typeUrl: string, nonce: string, bytes: number): Outgoing => ({ typeUrl, version: nonce, nonce, resources: [], removed: [], full: true, body: Buffer.alloc(bytes) });
  conn.send(w, sized('CDS', 'c', 300));
  assert.equal(throttle.bytes, 300);
  conn.send(w, sized('EDS', 'e', 700));
  assert.equal(throttle.bytes, 300, 'queued behind the write on the wire');
  writes[0]!.done();
  assert.equal(throttle.bytes, 700, 'the EDS response on the wire is the larger one');
  // Another connection's 400 bytes do not fit beside it.
  const other = new Connection('b', { id: 'p' } as Proxy, { id: 'b' }, 'sotw', 'peer', (o, done) => writes.push({ out: o, done }), { throttle, sendTimeoutMs: 60_000, lightBytes: 0 });
  other.send(new WatchState(), sized('CDS', 'b', 400));
  assert.equal(writes.length, 2);
  writes[1]!.done();
  assert.equal(writes.length, 3, 'admitted once the first connection is idle');
  assert.equal(throttle.bytes, 400);
  writes[2]!.done();
  assert.equal(throttle.bytes, 0);
  assert.equal(throttle.active, 0);
});

test('merge: delta keeps the newest version of each resource and removals not re-added', () => {
  const m = mergeOutgoing(out('T', 'n1', ['a', 'b'], ['x', 'y']), out('T', 'n2', ['b', 'y'], ['a']));
  assert.equal(m.nonce, 'n2');
  assert.equal(m.version, 'v-n2');
  assert.deepEqual(m.resources.map((e) => e.hash), ['b@n2', 'y@n2']);
  assert.deepEqual(m.removed, ['a', 'x']);
});

test('merge: a complete SotW set replaces what was queued', () => {
  const b = out('T', 'n2', ['c'], [], true);
  assert.equal(mergeOutgoing(out('T', 'n1', ['a', 'b'], [], true), b), b);
});

test('connection: writes one response at a time, merges per type while waiting, frees its slot when flushed', () => {
  const throttle = new SendThrottle(1);
  const proxy = { id: 'p' } as Proxy;
  const writes: Array<{ conn: string; out: Outgoing; done: () => void }> = [];
  const mk = (id: string) =>
    new Connection(id, proxy, { id }, 'delta', 'peer', (o, done) => writes.push({ conn: id, out: o, done }), { throttle, sendTimeoutMs: 60_000, lightBytes: 0 });
  const a = mk('a');
  const b = mk('b');
  const wa = new WatchState();
  const wb = new WatchState();
  a.send(wa, out('CDS', 'a1', ['c1']));
  a.send(wa, out('EDS', 'a2', ['e1']));
  b.send(wb, out('CDS', 'b1', ['c1'])); // no slot: waits
  assert.deepEqual(writes.map((w) => w.out.nonce), ['a1']);
  a.send(wa, out('EDS', 'a3', ['e2'])); // merged into the queued EDS
  assert.equal(wa.sentNonce, 'a3');
  writes[0]!.done();
  assert.deepEqual(writes.map((w) => w.out.nonce), ['a1', 'a3']);
  assert.deepEqual(writes[1]!.out.resources.map((e) => e.name), ['e1', 'e2']);
  assert.equal(b.busy, true);
  writes[1]!.done(); // a is idle: its slot goes to b
  assert.deepEqual(writes.map((w) => `${w.conn}:${w.out.nonce}`), ['a:a1', 'a:a3', 'b:b1']);
  // A closed connection gives its slot back even though its write never completed.
  b.close();
  a.send(wa, out('CDS', 'a4', ['c2']));
  assert.deepEqual(writes.map((w) => w.out.nonce).slice(-1), ['a4']);
});

test('connection: a small response goes out without a slot or budget while a large one holds the only slot', () => {
  const throttle = new SendThrottle(1, 1_000_000);
  const writes: Array<{ conn: string; out: Outgoing; done: () => void }> = [];
  const mk = (id: string) => new Connection(id, { id: 'p' } as Proxy, { id }, 'delta', 'peer', (o, done) => writes.push({ conn: id, out: o, done }), { throttle, sendTimeoutMs: 60_000, lightBytes: 1000 });
  const sized = (typeUrl: string, nonce: string, bytes: number): Outgoing => ({ typeUrl, version: nonce, nonce, resources: [], removed: [], full: true, body: Buffer.alloc(bytes) });
  const [a, b, c] = [mk('a'), mk('b'), mk('c')];
  a.send(new WatchState(), sized('CDS', 'a1', 5000)); // takes the slot
  b.send(new WatchState(), sized('EDS', 'b1', 300)); // small: not queued behind it
  c.send(new WatchState(), sized('CDS', 'c1', 5000)); // large: waits for the slot
  assert.deepEqual(writes.map((w) => `${w.conn}:${w.out.nonce}`), ['a:a1', 'b:b1']);
  assert.equal(throttle.active, 1);
  assert.equal(throttle.bytes, 5000, 'the small write is not charged');
  writes[1]!.done();
  assert.equal(throttle.active, 1, 'finishing the small write frees nothing it did not hold');
  writes[0]!.done();
  assert.deepEqual(writes.map((w) => `${w.conn}:${w.out.nonce}`), ['a:a1', 'b:b1', 'c:c1']);
  writes[2]!.done();
  assert.equal(throttle.active, 0);
  assert.equal(throttle.bytes, 0);
});
