// The file store refreshes only the paths fs.watch names: whatever order edits arrive in,
// it must end where a store reading the same directory from scratch starts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileConfigStore } from '../../src/api/file-store.ts';
import { contentOf } from '../../src/api/store.ts';
import { configKey, formatValidationError } from '../../src/api/types.ts';
import { doc } from './helpers.ts';

const vs = (name: string, timeout: string) => doc('VirtualService', `hosts: [${name}]\nhttp:\n- route:\n  - destination: {host: ${name}}\n  timeout: ${timeout}`, { name });
const file = (i: number) => `f${String(i).padStart(3, '0')}.yaml`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What a user sees of a store: every served config (key, content, file) in order, and every problem. */
function view(store: FileConfigStore): { all: string[]; errors: string[] } {
  return {
    all: store.all().map((c) => `${configKey(c)} ${c.origin?.file} ${contentOf(c)}`),
    errors: store.errors().map(formatValidationError),
  };
}

test('a burst of edits to a few files among many ends exactly where a fresh store of the directory starts', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-filestore-inc-'));
  const quiet = { logger: () => {}, rescanMs: 0 };
  try {
    for (let i = 0; i < 150; i++) writeFileSync(join(dir, file(i)), [vs(`s${i}a`, '1s'), vs(`s${i}b`, '2s')].join('---\n'));
    writeFileSync(join(dir, file(10)), [vs('s10a', '1s'), vs('s5a', '9s')].join('---\n')); // duplicate of f005's s5a
    writeFileSync(join(dir, file(20)), [vs('s20a', '1s'), vs('bad20', 'abc')].join('---\n')); // invalid from the start
    mkdirSync(join(dir, 'team'));
    writeFileSync(join(dir, 'team', 'x.yaml'), vs('team-x', '1s'));
    const store = new FileConfigStore(dir, { ...quiet, debounceMs: 20 });
    try {
      const scansAtStart = store.fullScans;
      const steps: Array<() => void> = [
        () => writeFileSync(join(dir, file(3)), [vs('s3a', '5s'), vs('s3b', '5s')].join('---\n')),
        () => writeFileSync(join(dir, file(4)), [vs('s4a', '1s'), vs('s5b', '3s')].join('---\n')), // now served before f005's s5b
        () => unlinkSync(join(dir, file(10))), // f005's s5a is no longer duplicated
        () => writeFileSync(join(dir, file(200)), vs('s200a', '1s')),
        () => writeFileSync(join(dir, file(3)), 'apiVersion: ['), // invalid for a while
        () => writeFileSync(join(dir, file(3)), [vs('s3a', '7s'), vs('s3c', '7s')].join('---\n')),
        () => {
          writeFileSync(join(dir, '.f006.tmp'), vs('s6a', '4s'));
          renameSync(join(dir, '.f006.tmp'), join(dir, file(6)));
        },
        () => writeFileSync(join(dir, file(1)), [vs('s1a', '1s'), vs('s1b', '2s')].join('---\n')), // same content
        () => writeFileSync(join(dir, 'team', 'x.yaml'), [vs('team-x', '6s'), vs('s7a', '6s')].join('---\n')), // s7a: f007 keeps it
        () => writeFileSync(join(dir, file(149)), vs('s149a', '8s')),
      ];
      for (const [i, step] of steps.entries()) {
        step();
        if (i % 3 === 2) await sleep(30); // some edits in one batch, some in the next
      }

      let fresh = { all: [] as string[], errors: [] as string[] };
      let seen = view(store);
      for (let i = 0; i < 100; i++) {
        await sleep(50);
        const other = new FileConfigStore(dir, { ...quiet });
        fresh = view(other);
        other.close();
        seen = view(store);
        if (JSON.stringify(seen) === JSON.stringify(fresh)) break;
      }
      assert.deepEqual(seen.all, fresh.all);
      assert.deepEqual(seen.errors, fresh.errors);
      assert.ok(seen.errors.some((e) => e.includes('bad20')), 'the invalid file is still reported');
      assert.ok(seen.errors.some((e) => e.includes(file(5)) && e.includes(`also defined in ${join(dir, file(4))}`)), seen.errors.join('\n'));
      assert.ok(!seen.errors.some((e) => e.includes(file(10))), 'the deleted file reports nothing');
      assert.equal(store.get('VirtualService', 's5b', 'default')?.spec.http[0].timeout, '3s');
      assert.equal(store.get('VirtualService', 's3b', 'default'), undefined);
      assert.equal(store.fullScans, scansAtStart, 'edits to files were applied without rescanning the tree');
    } finally {
      store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a directory added, renamed and removed is followed (the tree is walked again)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-filestore-inc-'));
  try {
    writeFileSync(join(dir, 'a.yaml'), vs('a', '1s'));
    const store = new FileConfigStore(dir, { logger: () => {}, rescanMs: 0, debounceMs: 20 });
    const until = async (want: string[]) => {
      for (let i = 0; i < 100 && JSON.stringify(store.all().map((c) => c.metadata.name)) !== JSON.stringify(want); i++) await sleep(30);
      assert.deepEqual(store.all().map((c) => c.metadata.name), want);
    };
    try {
      mkdirSync(join(dir, 'team', 'deep'), { recursive: true });
      writeFileSync(join(dir, 'team', 'deep', 'b.yaml'), vs('b', '1s'));
      await until(['a', 'b']);
      renameSync(join(dir, 'team'), join(dir, 'team2'));
      writeFileSync(join(dir, 'team2', 'deep', 'c.yaml'), vs('c', '1s'));
      await until(['a', 'b', 'c']);
      // (Node 20's recursive watch loses a renamed directory's later events: the periodic
      // rescan covers that, so the removal below is of a directory never renamed.)
      mkdirSync(join(dir, 'other'));
      writeFileSync(join(dir, 'other', 'd.yaml'), vs('d', '1s'));
      await until(['a', 'b', 'c', 'd']);
      rmSync(join(dir, 'other'), { recursive: true });
      await until(['a', 'b', 'c']);
    } finally {
      store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
