/**
 * The workload analyzers against istioctl's recorded answers on Istio's analyzer testdata and
 * samples: for the
 * codes these analyzers own, every input in every namespace gives istioctl's messages with
 * istioctl's exact texts (and, where the message points at a field, its line).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { loadInputs } from '../../../../src/api/analysis/load.ts';
import { analyze } from '../../../../src/api/analysis/run.ts';
import { origin, reference } from '../../../../src/api/analysis/report.ts';
import { WORKLOAD_ANALYZERS } from '../../../../src/api/analysis/analyzers/workloads.ts';
import { baseOf, readFixture, TESTDATA } from '../conformance.ts';

const CODES = new Set(['IST0128', 'IST0129', 'IST0134', 'IST0151', 'IST0152', 'IST0153', 'IST0154', 'IST0155', 'IST0157', 'IST0160', 'IST0163', 'IST0164', 'IST0175', 'IST0176', 'IST0177']);
/** Messages about a field, whose line is the analyzer's choice (the others use the resource's first line). */
const FIELD_LINE = new Set(['IST0134', 'IST0177']);
const mine = (code: string, text: string) => CODES.has(code) || (code === 'IST0002' && text.includes('Lightstep'));
const key = (code: string, org: string, ref: string, text: string) => `${code} (${org}${FIELD_LINE.has(code) ? ` ${ref}` : ''}) ${text}`;

test("workload analyzers give istioctl's messages, texts and field lines on every recorded input", { skip: !existsSync(TESTDATA) && 'istio-data not present' }, () => {
  const names = WORKLOAD_ANALYZERS.map((a) => a.name);
  const diffs: string[] = [];
  let inputs = 0;
  let messages = 0;
  const cwd = process.cwd();
  try {
    for (const [input, perNs] of Object.entries(readFixture().files)) {
      inputs++;
      process.chdir(baseOf(input)); // references name files as given on istioctl's command line
      for (const [ns, rec] of Object.entries(perNs)) {
        const want = rec.messages.filter((m) => mine(m.code, m.message)).map((m) => key(m.code, m.origin, m.reference, m.message)).sort();
        const loaded = loadInputs([input], { namespace: ns });
        const got = analyze(loaded.resources, { namespaces: [ns], analyzers: names }).map((m) => key(m.code, origin(m), reference(m), m.text)).sort();
        messages += want.length;
        for (const w of want) if (!got.includes(w)) diffs.push(`${input} -n ${ns} missing ${w}`);
        for (const g of got) if (!want.includes(g)) diffs.push(`${input} -n ${ns} extra   ${g}`);
      }
    }
  } finally {
    process.chdir(cwd);
  }
  console.log(`${inputs} inputs, ${messages} istioctl messages of the workload analyzers, ${diffs.length} differences`);
  assert.deepEqual(diffs, []);
  assert.ok(messages > 30, `only ${messages} messages: fixture or filter broken`);
});
