/**
 * What `npm ci` tells a user: nothing to wonder about. The Node range package.json declares must
 * lie inside every installed package's own `engines.node` (else npm prints EBADENGINE on a Node
 * we call supported), every dependency install script is reviewed in `allowScripts` (npm 11
 * warns about the others), and a clean install on this Node prints no warning at all.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { test } from 'node:test';
import { REPO } from '../helpers/processes.ts';

const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8'));
const lock = JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8'));

type Version = [number, number, number];

function parseVersion(v: string): Version {
  const [a = 0, b = 0, c = 0] = v.replace(/^v/, '').split('.').map((x) => (/^\d+$/.test(x) ? Number(x) : 0));
  return [a, b, c];
}

function cmp(a: Version, b: Version): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

/** npm's range grammar as used by `engines.node` in our lock file: `||`, `>=`, `>`, `<`, `<=`, `^`, `~`, `N.x`, `N.*`, `*`. */
function satisfies(version: string, range: string): boolean {
  const v = parseVersion(version);
  return range.split('||').some((alt) => {
    const parts = alt.trim().replace(/(>=|<=|>|<|\^|~)\s+/g, '$1').split(/\s+/).filter(Boolean);
    return parts.every((p) => {
      if (p === '*' || p === 'x') return true;
      const m = /^(>=|<=|>|<|\^|~|=)?v?(\d+)(?:\.(\d+|x|\*))?(?:\.(\d+|x|\*))?$/.exec(p);
      if (!m) throw new Error(`range ${JSON.stringify(range)}: cannot read ${p}`);
      const op = m[1] ?? '';
      const wild = (s: string | undefined) => s === undefined || s === 'x' || s === '*';
      const want: Version = [Number(m[2]), wild(m[3]) ? 0 : Number(m[3]), wild(m[4]) ? 0 : Number(m[4])];
      const c = cmp(v, want);
      if (op === '>=') return c >= 0;
      if (op === '>') return c > 0;
      if (op === '<=') return c <= 0;
      if (op === '<') return c < 0;
      if (op === '^') return c >= 0 && v[0] === want[0];
      if (op === '~') return c >= 0 && v[0] === want[0] && v[1] === want[1];
      // `N`, `N.x`, `N.M.x`: the wildcard parts match anything.
      if (wild(m[3])) return v[0] === want[0];
      if (wild(m[4])) return v[0] === want[0] && v[1] === want[1];
      return c === 0;
    });
  });
}

/** Versions a range of the form `>=N[.M.P]` admits that we check: its lowest, and each later major up to 30. */
function declaredSamples(range: string): string[] {
  const m = /^>=\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?$/.exec(range.trim());
  assert.ok(m, `package.json engines.node is ${JSON.stringify(range)}: write it as ">=N" (the lowest supported major), which CI tests`);
  const first = `${m[1]}.${m[2] ?? 0}.${m[3] ?? 0}`;
  const out = [first];
  for (let major = Number(m[1]) + 1; major <= 30; major++) out.push(`${major}.0.0`);
  return out;
}

test('every Node the project declares satisfies every installed package engines.node (no EBADENGINE)', () => {
  const declared: string = pkg.engines.node;
  assert.equal(lock.packages[''].engines?.node, declared, 'package-lock.json records the same range (run npm install)');
  const problems: string[] = [];
  for (const [path, entry] of Object.entries<{ engines?: { node?: string }; optional?: boolean; os?: string[] }>(lock.packages)) {
    const range = entry.engines?.node;
    if (!path || !range) continue;
    for (const v of declaredSamples(declared)) {
      if (!satisfies(v, range)) problems.push(`${path.replace(/^.*node_modules\//, '')} wants node ${range}, but package.json (node ${declared}) admits ${v}`);
    }
  }
  assert.deepEqual(problems, []);
});

test('the range reader agrees with npm on the forms our lock file uses', () => {
  assert.equal(satisfies('20.20.2', '>=22'), false);
  assert.equal(satisfies('22.0.0', '>=22'), true);
  assert.equal(satisfies('22.0.0', '>= 6.0.0'), true);
  assert.equal(satisfies('10.5.0', '^8.16.0 || ^10.6.0 || >=11.0.0'), false);
  assert.equal(satisfies('10.6.1', '^8.16.0 || ^10.6.0 || >=11.0.0'), true);
  assert.equal(satisfies('7.1.0', '6.* || 8.* || >= 10.*'), false);
  assert.equal(satisfies('24.1.0', '4.x || >=6.0.0'), true);
  assert.equal(satisfies('20.18.0', '>=20.18.1'), false);
});

test('every dependency with an install script is reviewed in allowScripts', () => {
  const allow: Record<string, boolean> = pkg.allowScripts ?? {};
  const reviewed = (name: string, version: string) => Object.hasOwn(allow, name) || Object.hasOwn(allow, `${name}@${version}`);
  const missing = Object.entries<{ hasInstallScript?: boolean; version?: string }>(lock.packages)
    .filter(([path, e]) => path && e.hasInstallScript)
    .map(([path, e]) => ({ name: path.replace(/^.*node_modules\//, ''), version: e.version ?? '' }))
    .filter((p) => !reviewed(p.name, p.version))
    .map((p) => `${p.name}@${p.version}`);
  assert.deepEqual(missing, [], 'review them (npm install-scripts ls / approve / deny) and record the decision in package.json allowScripts');
});

const inRange = satisfies(process.versions.node, pkg.engines.node);
test(
  'npm ci on this Node prints no warning',
  { skip: !inRange && `Node ${process.versions.node} is outside the supported range ${pkg.engines.node}: CI runs this on each supported major (.ci/run)`, timeout: 300_000 },
  (t) => {
    // A real install of package.json + package-lock.json into a scratch directory, from npm's
    // cache when it can: what a user sees after cloning, install scripts included (our own
    // `prepare` builds dist/ from src/, so it gets what that build reads).
    const dir = mkdtempSync(join(tmpdir(), 'tsmesh-ci-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    // native/: the SO_ORIGINAL_DST addon's source, which `prepare` compiles (not a build of it).
    for (const f of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'scripts/build.mjs', 'bin/dist_state.mjs', 'src', 'native']) {
      const built = join(REPO, 'native', 'build');
      cpSync(join(REPO, f), join(dir, f), { recursive: true, filter: (src) => src !== built && !src.startsWith(`${built}/`) });
    }
    // npm is a node script (`#!/usr/bin/env node`): this Node first in PATH, so npm's engines check sees it.
    const r = spawnSync('npm', ['ci', '--prefer-offline', '--no-audit', '--no-fund'], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 240_000,
      env: { ...process.env, PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`, npm_config_loglevel: 'warn', npm_config_update_notifier: 'false' },
    });
    const out = `${r.stdout ?? ''}\n${r.stderr ?? ''}`;
    if (r.status !== 0 && /ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNREFUSED|ECONNRESET|ENOTCACHED/.test(out)) {
      t.skip(`npm ci cannot reach the registry and the cache lacks a package:\n${out.slice(-800)}`);
      return;
    }
    assert.equal(r.error, undefined, String(r.error));
    assert.equal(r.status, 0, out);
    const warnings = out.split('\n').filter((l) => /^npm (warn|WARN|error|ERR)/.test(l));
    assert.deepEqual(warnings, []);
  },
);
