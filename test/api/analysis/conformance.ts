/**
 * Runs tsmesh's analyzer the way the golden script ran istioctl (one input, one namespace) and
 * compares with what istioctl answered; shared by the conformance test and by hand:
 * `node --import tsx test/api/analysis/conformance.ts [file-substring]` prints the differences.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { loadInputs } from '../../../src/api/analysis/load.ts';
import { analyze } from '../../../src/api/analysis/run.ts';
import { exitCode, origin, reference } from '../../../src/api/analysis/report.ts';

export const TESTDATA = new URL('../../../../shared/istio-data/istio/pkg/config/analysis/analyzers/testdata', import.meta.url).pathname;
/** Istio's source root: inputs keyed "samples/..." are relative to it. */
export const ISTIO_ROOT = new URL('../../../../shared/istio-data/istio', import.meta.url).pathname;
export const FIXTURE = new URL('./fixtures/istioctl-analyze.json', import.meta.url).pathname;

export interface Recorded {
  exitCode: number;
  messages: { code: string; level: string; origin: string; reference: string; message: string }[];
}
export interface Fixture {
  files: Record<string, Record<string, Recorded>>;
}

export function readFixture(): Fixture {
  return JSON.parse(readFileSync(FIXTURE, 'utf8')) as Fixture;
}

/** The directory an input key is relative to. */
export function baseOf(input: string): string {
  return input.startsWith('samples/') ? ISTIO_ROOT : TESTDATA;
}

/** What tsmesh answers for one input (relative to TESTDATA, or "samples/..." to Istio's root) analyzed in one namespace. */
export function ours(input: string, ns: string): Recorded {
  const cwd = process.cwd();
  process.chdir(baseOf(input)); // file names in references are as given on the command line
  try {
    const loaded = loadInputs([input], { namespace: ns });
    const ms = analyze(loaded.resources, { namespaces: [ns], kubeInputs: false }); // as --use-kube=false
    const parseFailed = new Set(loaded.errors.map((e) => e.file)).size;
    return {
      exitCode: exitCode(ms, 'Error', parseFailed),
      messages: ms.map((m) => ({ code: m.code, level: m.level, origin: origin(m), reference: reference(m), message: m.text })),
    };
  } finally {
    process.chdir(cwd);
  }
}

export interface Diff {
  input: string;
  ns: string;
  missing: string[];
  extra: string[];
  exit?: { istioctl: number; tsmesh: number };
}

const key = (m: Recorded['messages'][number]) => `${m.code} ${m.level} (${m.origin})`;

/** The (code, level, resource) set difference and exit-code difference; undefined when they agree. */
export function compare(input: string, ns: string, want: Recorded, got: Recorded): Diff | undefined {
  // Sets, as the brief of this test says: istioctl may print one finding per problem of a resource.
  const w = new Set(want.messages.map(key));
  const g = new Set(got.messages.map(key));
  const missing = [...w].filter((k) => !g.has(k));
  const extra = [...g].filter((k) => !w.has(k));
  const exit = want.exitCode !== got.exitCode ? { istioctl: want.exitCode, tsmesh: got.exitCode } : undefined;
  if (missing.length === 0 && extra.length === 0 && !exit) return undefined;
  // Show the texts too, so the table says what to fix.
  const text = (list: string[], ms: Recorded['messages']) => list.map((k) => {
    const m = ms.find((x) => key(x) === k);
    return m ? `${k} ${m.reference}: ${m.message}` : k;
  });
  return { input, ns, missing: text(missing, want.messages), extra: text(extra, got.messages), exit };
}

export function compareAll(filter?: string): { diffs: Diff[]; inputs: number; matched: number } {
  const fx = readFixture();
  const diffs: Diff[] = [];
  let inputs = 0;
  let matched = 0;
  for (const [input, perNs] of Object.entries(fx.files)) {
    if (filter && !input.includes(filter)) continue;
    inputs++;
    let ok = true;
    for (const [ns, want] of Object.entries(perNs)) {
      const d = compare(input, ns, want, ours(input, ns));
      if (d) {
        diffs.push(d);
        ok = false;
      }
    }
    if (ok) matched++;
  }
  return { diffs, inputs, matched };
}

export function formatDiffs(diffs: readonly Diff[]): string {
  const lines: string[] = [];
  for (const d of diffs) {
    lines.push(`${d.input} -n ${d.ns}${d.exit ? ` exit istioctl=${d.exit.istioctl} tsmesh=${d.exit.tsmesh}` : ''}`);
    for (const m of d.missing) lines.push(`   missing ${m}`);
    for (const m of d.extra) lines.push(`   extra   ${m}`);
  }
  return lines.join('\n');
}

/** The istioctl binary to diff against live, if one is on this machine. */
export function findIstioctl(): string | undefined {
  const candidates = [process.env.TSMESH_ISTIOCTL, '/tmp/istioctl-build/istioctl'];
  const cache = join(homedir(), '.cache/tsmesh-bench/istio');
  if (existsSync(cache)) {
    for (const v of readdirSafe(cache).sort().reverse()) candidates.push(join(cache, v, 'istioctl'));
  }
  return candidates.find((c) => c && existsSync(c));
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Messages whose text or line differs from istioctl's (the set comparison ignores both). */
export function textDiffs(filter?: string): { total: number; lines: string[] } {
  const fx = readFixture();
  const full = (m: Recorded['messages'][number]) => `${m.code} (${m.origin} ${m.reference}) ${m.message}`;
  let total = 0;
  const lines: string[] = [];
  for (const [input, perNs] of Object.entries(fx.files)) {
    if (filter && !input.includes(filter)) continue;
    for (const [ns, want] of Object.entries(perNs)) {
      const got = ours(input, ns).messages;
      const g = new Set(got.map(full));
      total += want.messages.length;
      for (const m of want.messages) {
        if (g.has(full(m))) continue;
        const near = got.find((x) => x.code === m.code && x.origin === m.origin);
        lines.push(`${input} -n ${ns}\n   istioctl ${full(m)}\n   tsmesh   ${near ? full(near) : '-'}`);
      }
    }
  }
  return { total, lines };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const strict = process.argv.includes('--strict');
  const filter = process.argv.slice(2).find((a) => a !== '--strict');
  if (strict) {
    const t = textDiffs(filter);
    console.log(t.lines.join('\n'));
    console.log(`${t.total - t.lines.length}/${t.total} istioctl messages matched with the same text and line`);
  }
  const r = compareAll(filter);
  console.log(formatDiffs(r.diffs));
  console.log(`${r.matched}/${r.inputs} inputs match istioctl (${((100 * r.matched) / r.inputs).toFixed(1)}%)`);
}
