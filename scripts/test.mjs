#!/usr/bin/env node
// Runs every *.test.ts under test/ with node's own test runner (tsx as the TypeScript loader),
// so each run ends with node's pass/fail summary. Node 20 has no glob support in --test.
// Usage: npm test [-- <path filter substring> ...]
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function collect(dir, out) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) collect(p, out);
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}
const filters = process.argv.slice(2);
const files = collect('test', []).sort().filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}
const concurrency = process.env.TEST_CONCURRENCY ?? '2';
// A whole run takes 15-20 min on 2 cores; past this something hangs, and CI's own limit would end
// the run without saying what. Then the files still running are named and the run fails.
const limitMin = Number(process.env.TEST_RUN_TIMEOUT_MIN ?? '45');
// No --test-force-exit: with it, node 22 once ended test/api/samples.test.ts after 15 of its
// tests and reported no failure. A file that leaks a socket instead hangs, and the watchdog names it.
const args = ['--import', 'tsx', '--test', '--test-timeout=600000', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files];
// Its own process group, so a watchdog kill reaches every test file and what they started.
const child = spawn(process.execPath, args, { stdio: 'inherit', detached: true, env: { ...process.env, TSMESH_TEST: '1' } });
const killGroup = (signal) => {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
};
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => killGroup(signal));
const watchdog = setTimeout(() => {
  console.error(`\nnpm test: still running after ${limitMin} min (TEST_RUN_TIMEOUT_MIN); test files still running:`);
  const ps = spawnSync('ps', ['-e', '-o', 'pid=,pgid=,etimes=,args='], { encoding: 'utf8' });
  for (const line of ps.stdout.split('\n')) {
    const [pid, pgid, secs, ...cmd] = line.trim().split(/\s+/);
    const file = cmd.find((a) => a.endsWith('.test.ts'));
    // The runner itself names every file; each file's own process names one.
    if (Number(pgid) === child.pid && Number(pid) !== child.pid && file) console.error(`  ${file} (${Math.round(Number(secs) / 60)} min)`);
  }
  killGroup('SIGKILL');
}, limitMin * 60_000);
child.on('exit', (code, signal) => {
  clearTimeout(watchdog);
  killGroup('SIGKILL'); // anything a test file left running
  process.exit(code ?? 1);
});
