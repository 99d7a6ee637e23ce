import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Supervisor, lastLogLine } from '../../src/demo/supervisor.ts';

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

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
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
  await until(() => /grandchild \d+/.test(safeRead(log)));
  const grandchild = Number(/grandchild (\d+)/.exec(safeRead(log))![1]);
  assert.ok(alive(p.pid) && alive(grandchild));
  await sup.stopAll({ timeoutMs: 3000 });
  assert.equal(p.running, false);
  assert.equal(alive(p.pid), false, 'leader gone');
  assert.equal(alive(grandchild), false, 'grandchild gone');
  assert.equal(p.groupAlive(), false);
});

test('a process that ignores SIGTERM is killed after the timeout', async () => {
  const sup = new Supervisor();
  const log = join(dir, 'stubborn.log');
  const p = sup.start({
    name: 'stubborn',
    command: process.execPath,
    args: ['-e', "process.on('SIGTERM', () => console.log('ignoring SIGTERM')); console.log('up'); setInterval(() => {}, 1000)"],
    logFile: log,
  });
  await until(() => safeRead(log).includes('up'));
  const t0 = Date.now();
  await sup.stopAll({ timeoutMs: 300 });
  const took = Date.now() - t0;
  assert.equal(alive(p.pid), false);
  assert.equal(p.exitInfo?.signal, 'SIGKILL');
  assert.ok(took >= 250 && took < 3000, `took ${took} ms`);
  assert.match(safeRead(log), /ignoring SIGTERM/);
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
  const t0 = Date.now();
  await sup.stopAll({ timeoutMs: 2000 });
  assert.ok(Date.now() - t0 < 500);
  assert.equal(lastLogLine(join(dir, 'quick.log')), 'bye');
});

function safeRead(f: string): string {
  try {
    return readFileSync(f, 'utf8');
  } catch {
    return '';
  }
}
