import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Supervisor, lastLogLine } from '../../src/demo/supervisor.ts';
import { ManualClock } from '../helpers/clock.ts';
import { until } from '../helpers/poll.ts';

const dir = mkdtempSync(join(tmpdir(), 'tsmesh-sup-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// A child that forks a grandchild, prints its pid and sleeps: stopping must take both.
const PARENT_WITH_CHILD = `
const { spawn } = require('node:child_process');
const g = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
console.log('grandchild ' + g.pid);
setInterval(() => {}, 1000);
`;

test('stopAll ends every process group, grandchildren included, and logs go to the file', async () => {
  const sup = new Supervisor();
  const log = join(dir, 'a.log');
  const p = sup.start({ name: 'a', command: process.execPath, args: ['-e', PARENT_WITH_CHILD], logFile: log });
  await until(() => /grandchild \d+/.test(safeRead(log)), 'the grandchild pid in the log');
  const grandchild = Number(/grandchild (\d+)/.exec(safeRead(log))![1]);
  assert.ok(alive(p.pid) && alive(grandchild));
  await sup.stopAll({ timeoutMs: 3000 });
  assert.equal(p.running, false);
  assert.equal(alive(p.pid), false, 'leader gone');
  assert.equal(alive(grandchild), false, 'grandchild gone');
  assert.equal(p.groupAlive(), false);
});

test('a process that ignores SIGTERM is killed once the stop timeout has passed, not before', async () => {
  const clock = new ManualClock();
  const sup = new Supervisor({ clock });
  const log = join(dir, 'stubborn.log');
  const p = sup.start({
    name: 'stubborn',
    command: process.execPath,
    args: ['-e', "process.on('SIGTERM', () => console.log('ignoring SIGTERM')); console.log('up'); setInterval(() => {}, 1000)"],
    logFile: log,
  });
  await until(() => safeRead(log).includes('up'), 'the child up');
  let stopped = false;
  const stopping = sup.stopAll({ timeoutMs: 5000 }).then(() => (stopped = true));
  await until(() => safeRead(log).includes('ignoring SIGTERM'), 'SIGTERM delivered');
  await clock.advance(4900);
  assert.equal(alive(p.pid), true, 'still given its time');
  assert.equal(stopped, false);
  await clock.advance(200);
  // SIGKILL sent; the supervisor waits (on the clock) for the leader to be reaped.
  await until(async () => (await clock.advance(20), stopped), 'stopAll done');
  await stopping;
  assert.equal(alive(p.pid), false);
  assert.equal(p.exitInfo?.signal, 'SIGKILL');
});

test('describeExit names the exit code and the error line of the log', async () => {
  const sup = new Supervisor();
  const p = sup.start({ name: 'crash', command: process.execPath, args: ['-e', "console.log('starting'); throw new Error('listen EADDRINUSE: address already in use 127.0.0.1:8080')"], logFile: join(dir, 'crash.log') });
  await p.exited;
  const why = p.describeExit();
  assert.match(why, /^exited with code 1: /);
  assert.match(why, /EADDRINUSE/);
  await sup.stopAll();
});

test('a command that does not exist is reported, not thrown', async () => {
  const sup = new Supervisor();
  const p = sup.start({ name: 'missing', command: join(dir, 'no-such-binary'), args: [], logFile: join(dir, 'missing.log') });
  await p.exited;
  assert.equal(p.running, false);
  assert.match(p.describeExit(), /could not start .*no-such-binary.*ENOENT/);
  await sup.stopAll({ timeoutMs: 200 });
});

test('a process that exits by itself leaves nothing to stop', async () => {
  const sup = new Supervisor();
  const p = sup.start({ name: 'quick', command: process.execPath, args: ['-e', "console.log('bye')"], logFile: join(dir, 'quick.log') });
  assert.deepEqual(await p.exited, { code: 0, signal: null });
  await sup.stopAll({ timeoutMs: 2000 });
  assert.equal(lastLogLine(join(dir, 'quick.log')), 'bye');
});

function safeRead(f: string): string {
  try {
    return readFileSync(f, 'utf8');
  } catch {
    return '';
  }
}
