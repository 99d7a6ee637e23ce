/**
 * The ancestor watch's decisions, on a process table the test controls (a stand-in for /proc)
 * and a manual clock. The real thing, npx and all, is test/integration/lifecycle_demo_signals.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ancestorChain, linuxProc, watchAncestors, type ProcReader } from '../../src/demo/parent_watch.ts';
import { ManualClock } from '../helpers/clock.ts';

interface Row {
  ppid: number;
  argv: string[];
  wakeups: number;
}

/** npm exec (100) -> sh -c (200) -> us (process.ppid is 200). */
function table(): Map<number, Row> {
  return new Map([
    [100, { ppid: 50, argv: ['npm exec tsmesh demo'], wakeups: 7 }],
    [200, { ppid: 100, argv: ['sh', '-c', "'tsmesh' 'demo'"], wakeups: 2 }],
    [50, { ppid: 1, argv: ['bash'], wakeups: 900 }],
  ]);
}

function reader(rows: Map<number, Row>): ProcReader {
  return {
    ppid: (pid) => rows.get(pid)?.ppid,
    wakeups: (pid) => rows.get(pid)?.wakeups,
    argv: (pid) => rows.get(pid)?.argv,
  };
}

const NPM_ENV = { npm_execpath: '/usr/lib/node_modules/npm/bin/npm-cli.js', npm_lifecycle_event: 'npx' };

test('under npx: the chain is the shell and npm; without npm: the parent alone', () => {
  const rows = table();
  assert.deepEqual(
    ancestorChain(reader(rows), NPM_ENV, 200).map((a) => [a.pid, a.shell]),
    [[200, true], [100, false]],
  );
  assert.deepEqual(ancestorChain(reader(rows), {}, 200).map((a) => a.pid), [200]);
  // npm variables but no npm above (inherited by a grandchild): the parent alone.
  rows.set(100, { ppid: 50, argv: ['node', 'server.js'], wakeups: 0 });
  assert.deepEqual(ancestorChain(reader(rows), NPM_ENV, 200).map((a) => a.pid), [200]);
});

async function watching(rows: Map<number, Row>, ppid: () => number) {
  const clock = new ManualClock();
  const reasons: string[] = [];
  const chain = ancestorChain(reader(rows), NPM_ENV, 200);
  const stop = watchAncestors((why) => reasons.push(why), { clock, proc: reader(rows), ownPpid: ppid, chain, intervalMs: 250 });
  return { clock, reasons, stop };
}

test('npm dies (SIGHUP, SIGKILL): the shell is re-parented, and that is noticed', async () => {
  const rows = table();
  const w = await watching(rows, () => 200);
  await w.clock.advance(1000);
  assert.deepEqual(w.reasons, []);
  rows.get(200)!.ppid = 1;
  await w.clock.advance(250);
  assert.equal(w.reasons.length, 1);
  assert.match(w.reasons[0]!, /npm exec tsmesh demo \(pid 100\), which started the demo, exited/);
  await w.clock.advance(1000);
  assert.equal(w.reasons.length, 1, 'once');
});

test('the shell dies (npm forwarded SIGTERM): our own parent changes', async () => {
  const rows = table();
  let ppid = 200;
  const w = await watching(rows, () => ppid);
  ppid = 1;
  await w.clock.advance(250);
  assert.match(w.reasons[0]!, /sh -c 'tsmesh' 'demo' \(pid 200\), which started the demo, exited/);
});

test('the shell wakes up (npm forwarded SIGINT, which it holds): stop at the next check', async () => {
  const rows = table();
  const w = await watching(rows, () => 200);
  rows.get(100)!.wakeups += 50; // npm itself is busy: that means nothing
  await w.clock.advance(500);
  assert.deepEqual(w.reasons, []);
  rows.get(200)!.wakeups += 1;
  await w.clock.advance(250);
  assert.deepEqual(w.reasons, [], 'not on the first sight: SIGCONT may explain it');
  await w.clock.advance(250);
  assert.match(w.reasons[0]!, /a signal reached sh -c 'tsmesh' 'demo' \(pid 200\)/);
});

test('job control (Ctrl-Z, fg) wakes the shell too, and is not a reason to stop', async () => {
  const rows = table();
  const w = await watching(rows, () => 200);
  rows.get(200)!.wakeups += 2;
  await w.clock.advance(250);
  process.emit('SIGCONT');
  await w.clock.advance(1000);
  assert.deepEqual(w.reasons, []);
  w.stop();
});

test('linuxProc reads this process: its parent and command line', () => {
  assert.equal(linuxProc.ppid(process.pid), process.ppid);
  const argv = linuxProc.argv(process.pid) ?? [];
  assert.ok(argv.some((a) => a.endsWith('parent_watch.test.ts')), String(argv));
  assert.equal(typeof linuxProc.wakeups(process.pid), 'number');
  assert.equal(linuxProc.ppid(2 ** 22 + 12345), undefined);
});
