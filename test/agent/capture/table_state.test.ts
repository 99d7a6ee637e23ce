/**
 * Pruning the per-namespace capture records (review 14 item 4): a record another `tsmesh init`
 * has just written survives even when its namespace is not (yet) in the live set; an old record
 * of a namespace that is gone is dropped; an old record of a live namespace stays.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PRUNE_MIN_AGE_MS, pruneDeadNamespaces } from '../../../src/agent/capture/table_state.ts';

test('pruneDeadNamespaces keeps fresh records and live namespaces, drops old records of dead ones', { skip: process.platform !== 'linux' && 'Linux /proc' }, (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-capture-state-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const own = statSync('/proc/self/ns/net').ino;
  // Inodes 1 and 2 are never network namespaces (the root directory's range).
  const fresh = join(dir, 'net-1.json');
  const stale = join(dir, 'net-2.json');
  const live = join(dir, `net-${own}.json`);
  const other = join(dir, 'notes.txt');
  for (const f of [fresh, stale, live, other]) writeFileSync(f, '{}\n');
  const old = new Date(Date.now() - PRUNE_MIN_AGE_MS - 60_000);
  for (const f of [stale, live, other]) utimesSync(f, old, old);

  pruneDeadNamespaces(dir);
  assert.ok(existsSync(fresh), 'a record written just now (a concurrent init) was pruned');
  assert.ok(!existsSync(stale), 'an old record of a dead namespace was kept');
  assert.ok(existsSync(live), 'the record of a live namespace was pruned');
  assert.ok(existsSync(other), 'a file that is not a record was removed');

  // Once it is old too, the dead namespace's record goes.
  pruneDeadNamespaces(dir, Date.now() + PRUNE_MIN_AGE_MS + 60_000);
  assert.ok(!existsSync(fresh));
  assert.ok(existsSync(live));
});
