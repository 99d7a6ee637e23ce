/**
 * Runs a whole test file inside a network namespace of its own, for tests whose code must share
 * the network with what it starts (the node agent adds `ip route add local 198.18.x.0/24 dev lo`,
 * which must never touch the machine's own namespace). Outside, the file defines one test that
 * makes a namespace (test/helpers/netns.ts) and runs `node --test <file>` in it; inside, the
 * file's own tests run as written.
 *
 *   import { netnsTest } from '../helpers/in_netns.ts';
 *   const test = netnsTest(import.meta.url, { timeoutMs: 400_000 });
 *   test('...', async (t) => { ... });   // runs inside the namespace
 */
import { test as nodeTest } from 'node:test';
import assert from 'node:assert/strict';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { netLab, NO_NETNS } from './netns.ts';

const INSIDE = 'TSMESH_TEST_IN_NETNS';

export function netnsTest(fileUrl: string, o: { timeoutMs?: number } = {}): typeof nodeTest {
  if (process.env[INSIDE] === basename(fileURLToPath(fileUrl))) return nodeTest;
  const file = fileURLToPath(fileUrl);
  const timeoutMs = o.timeoutMs ?? 400_000;
  nodeTest(`${basename(file)} in a network namespace of its own`, { timeout: timeoutMs + 30_000, skip: NO_NETNS || false }, async (t) => {
    const lab = await netLab(t);
    const host = await lab.host('t', []);
    // NODE_TEST_CONTEXT would make the inner runner report to us in its binary protocol.
    const r = await host.run(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', file], {
      allowFail: true,
      timeoutMs,
      env: { [INSIDE]: basename(file), NODE_TEST_CONTEXT: undefined },
    });
    assert.equal(r.code, 0, `node --test ${basename(file)} inside the namespace failed:\n${r.stdout.slice(-12_000)}\n${r.stderr.slice(-4000)}`);
    for (const l of r.stdout.split('\n')) if (/^[✔✖]/.test(l.trim())) t.diagnostic(l.trim());
  });
  // Definitions outside the namespace are not run here.
  const skip = (() => undefined) as unknown as typeof nodeTest;
  return skip;
}
