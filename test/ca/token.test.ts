/** Workload tokens: minted by one holder of the state directory, verified by another. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, SignJWT } from 'jose';
import { issueWorkloadToken, loadTokenKey, verifyWorkloadToken, TOKEN_AUDIENCE, TOKEN_ISSUER } from '../../src/ca/token.ts';
import { TokenError, type TokenProblem } from '../../src/ca/errors.ts';

function tempDir(t: { after(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'tsmesh-token-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

async function refused(p: Promise<unknown>, problem: TokenProblem, message: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof TokenError, String(e));
    assert.equal(e.problem, problem);
    assert.match(e.message, message);
    return true;
  });
}

test('a token has Kubernetes service-account claims and verifies to its identity', async (t) => {
  const dir = tempDir(t);
  const token = await issueWorkloadToken(dir, { namespace: 'foo', serviceAccount: 'httpbin', podName: 'httpbin-1' });
  assert.equal(statSync(join(dir, 'token', 'signing-key.pem')).mode & 0o777, 0o600);
  const claims = decodeJwt(token);
  assert.equal(decodeProtectedHeader(token).alg, 'ES256');
  assert.equal(claims.iss, TOKEN_ISSUER);
  assert.equal(claims.sub, 'system:serviceaccount:foo:httpbin');
  assert.deepEqual(claims.aud, [TOKEN_AUDIENCE]);
  assert.equal(claims.exp! - claims.iat!, 3600);
  assert.deepEqual(claims['kubernetes.io'], { namespace: 'foo', serviceaccount: { name: 'httpbin' }, pod: { name: 'httpbin-1' } });
  assert.deepEqual(await verifyWorkloadToken(dir, token), { namespace: 'foo', serviceAccount: 'httpbin', podName: 'httpbin-1' });
  // The key persists: another reader (the control plane) verifies with the same file.
  const { publicKey } = await loadTokenKey(dir);
  assert.deepEqual(await verifyWorkloadToken(publicKey, token), { namespace: 'foo', serviceAccount: 'httpbin', podName: 'httpbin-1' });
});

test('refusals say why: expired, forged, wrong audience, malformed, missing claims, none', async (t) => {
  const dir = tempDir(t);
  const now = Math.floor(Date.now() / 1000);
  await refused(verifyWorkloadToken(dir, await issueWorkloadToken(dir, { namespace: 'foo', serviceAccount: 'a', nowSeconds: now - 7200 })), 'expired', /expired at/);

  const other = tempDir(t);
  await refused(verifyWorkloadToken(dir, await issueWorkloadToken(other, { namespace: 'foo', serviceAccount: 'a' })), 'bad-signature', /signature does not verify/);

  const { privateKey } = await loadTokenKey(dir);
  const sign = (claims: Record<string, unknown>, aud = TOKEN_AUDIENCE) =>
    new SignJWT(claims).setProtectedHeader({ alg: 'ES256' }).setIssuer(TOKEN_ISSUER).setAudience(aud).setIssuedAt().setExpirationTime('1h').setSubject(String(claims.s ?? 'system:serviceaccount:foo:a')).sign(privateKey);
  await refused(verifyWorkloadToken(dir, await sign({ 'kubernetes.io': { namespace: 'foo', serviceaccount: { name: 'a' } } }, 'api')), 'wrong-audience', /audience must include istio-ca/);
  await refused(verifyWorkloadToken(dir, await sign({})), 'missing-claims', /kubernetes\.io/);
  await refused(verifyWorkloadToken(dir, await sign({ 'kubernetes.io': { namespace: 'bar', serviceaccount: { name: 'a' } } })), 'missing-claims', /sub/);
  const es384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey;
  await refused(verifyWorkloadToken(dir, await new SignJWT({}).setProtectedHeader({ alg: 'ES384' }).sign(es384)), 'bad-signature', /algorithm/);
  await refused(verifyWorkloadToken(dir, 'not-a-jwt'), 'malformed', /three dot-separated/);
  await refused(verifyWorkloadToken(dir, 'a.b.c'), 'malformed', /./);
  await refused(verifyWorkloadToken(dir, ''), 'missing', /no token/);
});

test('names that are not Kubernetes names are refused at issue time', async (t) => {
  await assert.rejects(issueWorkloadToken(tempDir(t), { namespace: 'foo/sa/x', serviceAccount: 'a' }), /invalid namespace/);
});
