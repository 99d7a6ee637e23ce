/**
 * A proxy loads jose, re2js and cel-js (src/common/lazy_module.ts) only when its configuration
 * needs them: each costs every process memory for as long as it runs, and most proxies have no
 * JWT, no RE2 regex and no CEL. What the process loaded is read from a module hook it is started
 * with, written when it exits.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as nodeModule from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnTsmesh } from '../helpers/processes.ts';
import { httpListener, staticCluster } from './helpers.ts';
import type { EnvoyJson } from '../../src/xds/types.ts';

const HOOK = `import { registerHooks } from 'node:module';
import { writeFileSync } from 'node:fs';
const seen = new Set();
registerHooks({ load(url, context, next) { seen.add(url); return next(url, context); } });
process.on('exit', () => writeFileSync(process.env.TSMESH_TEST_LOADED, [...seen].join('\\n')));
`;

const LIBRARIES = ['jose', 're2js', '@marcbachmann/cel-js'];

// The hook needs module.registerHooks (Node 22.15+); without it the process could not start.
const skip = 'registerHooks' in nodeModule ? false : `module.registerHooks is not in Node ${process.version}`;

/** The libraries among LIBRARIES that a `tsmesh proxy` serving `routes` loaded by the time it exited. */
async function librariesLoaded(t: { after: (fn: () => void) => void }, routes: EnvoyJson[]): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-lazy-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const hook = join(dir, 'hook.mjs');
  writeFileSync(hook, HOOK);
  const bootstrap = join(dir, 'bootstrap.json');
  const staticResources = { listeners: [httpListener('in', routes)], clusters: [staticCluster('app', [1])] };
  writeFileSync(bootstrap, JSON.stringify({ node: { id: 'lazy', cluster: 'test' }, static_resources: staticResources }));
  const loaded = join(dir, 'loaded.txt');
  const env = { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${hook}`, TSMESH_TEST_LOADED: loaded };
  const proxy = await spawnTsmesh(['proxy', '--bootstrap', bootstrap, '--admin-port', '0', '--drain-time-s', '0'], /tsmesh proxy ready/, { env });
  assert.equal(await proxy.stop(), 0, proxy.output());
  const urls = readFileSync(loaded, 'utf8').split('\n');
  return LIBRARIES.filter((lib) => urls.some((u) => u.includes(`/node_modules/${lib}/`)));
}

test('a proxy with no JWT, regex or CEL in its configuration loads none of their libraries', { skip }, async (t) => {
  assert.deepEqual(await librariesLoaded(t, [{ match: { prefix: '/' }, route: { cluster: 'app' } }]), []);
});

test('a regex route match loads the RE2 library, and only that', { skip }, async (t) => {
  const routes = [{ match: { safe_regex: { regex: '^/api/v[0-9]+/.*' } }, route: { cluster: 'app' } }];
  assert.deepEqual(await librariesLoaded(t, routes), ['re2js']);
});
