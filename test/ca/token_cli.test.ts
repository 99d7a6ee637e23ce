/** `tsmesh token create`: prints a token the CA accepts; usage errors say what to do. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeJwt } from 'jose';
import { tokenCommand } from '../../src/cli/token.ts';
import { verifyWorkloadToken } from '../../src/ca/token.ts';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { log: (l: string) => out.push(l), error: (l: string) => err.push(l) } };
}

test('token create prints a token for the identity, valid for --ttl, verified with the same state dir', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-tokencli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const c = capture();
  assert.equal(await tokenCommand(['create', '-n', 'foo', '--service-account', 'httpbin', '--state-dir', dir, '--ttl', '30m'], c.io), 0);
  assert.equal(c.out.length, 1);
  assert.deepEqual(await verifyWorkloadToken(dir, c.out[0]!), { namespace: 'foo', serviceAccount: 'httpbin' });
  const claims = decodeJwt(c.out[0]!);
  assert.equal(claims.exp! - claims.iat!, 1800);
});

test('usage errors name the problem and show the help', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-tokencli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cases: Array<[string[], RegExp]> = [
    [['create', '-n', 'foo'], /missing --service-account, --state-dir/],
    [['create', '-n', 'Foo_Bar', '--service-account', 'a', '--state-dir', dir], /--namespace "Foo_Bar" is not a Kubernetes name/],
    [['create', '-n', 'foo', '--service-account', 'a', '--state-dir', dir, '--ttl', 'soon'], /--ttl "soon" is not a duration/],
    [['create', '-n', 'foo', '--service-account', 'a', '--state-dir', dir, '--bogus'], /unknown flag --bogus/],
    [['revoke'], /unknown subcommand 'revoke'/],
  ];
  for (const [argv, message] of cases) {
    const c = capture();
    assert.equal(await tokenCommand(argv, c.io), 2, argv.join(' '));
    assert.match(c.err.join('\n'), message);
    assert.match(c.err.join('\n'), /Usage: tsmesh token create/);
    assert.equal(c.out.length, 0, 'nothing on stdout');
  }
  const c = capture();
  assert.equal(await tokenCommand(['create', '-n', 'foo', '--service-account', 'a', '--state-dir', join(dir, 'nope')], c.io), 1);
  assert.match(c.err.join('\n'), /does not exist; pass the --state-dir the control plane runs with/);
});

test('tsmesh token is a command of the tsmesh binary', async () => {
  const main = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
  const out: string = await new Promise((resolve, reject) =>
    execFile(process.execPath, ['--import', 'tsx', main, 'token', '--help'], { timeout: 30_000 }, (err, stdout) => (err ? reject(err) : resolve(stdout))),
  );
  assert.match(out, /Usage: tsmesh token create --namespace <ns> --service-account <sa> --state-dir <dir>/);
});
