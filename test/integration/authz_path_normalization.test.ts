/**
 * Issue 10's normalization check: a DENY on `/admin` and `/admin/*` against 30 spellings of the
 * path and of the Host (encodings, dot segments, slashes, escaped slashes and backslashes, case,
 * trailing dots, ports), under each meshConfig.pathNormalization mode, through a real control
 * plane and sidecar. The app behind the sidecar records what it receives; a spelling "gets
 * through" when the app is handed a path that a lenient server (one that decodes %XX once, takes
 * `\` as `/`, merges slashes and resolves dot segments, in that order) would serve as /admin.
 * Each spelling names the weakest mode that must stop it: BASE covers dot segments and encoded
 * unreserved characters, MERGE_SLASHES adds `//`, DECODE_AND_MERGE_SLASHES adds %2F and %5C
 * (Istio's documented guarantees; NONE protects only the literal spellings). The table of
 * outcomes is printed.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { connect } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startMesh } from '../helpers/mesh.ts';

const MODES = ['NONE', 'BASE', 'MERGE_SLASHES', 'DECODE_AND_MERGE_SLASHES'] as const;
type Mode = (typeof MODES)[number];

interface Variant {
  target: string;
  host?: string;
  /** The weakest mode that must keep it from the app. */
  from: Mode;
}

const VARIANTS: Variant[] = [
  { target: '/admin', from: 'NONE' },
  { target: '/admin/', from: 'NONE' },
  { target: '/admin/secret', from: 'NONE' },
  { target: '/admin?x=1', from: 'NONE' },
  { target: '/admin/./secret', from: 'NONE' },
  { target: '/admin/%2e%2e/admin', from: 'NONE' },
  { target: '/Admin', from: 'NONE' },
  { target: '/admin%252F', from: 'NONE' },
  { target: '/admin', host: 'WEB', from: 'NONE' },
  { target: '/admin', host: 'web.', from: 'NONE' },
  { target: '/admin', host: 'web.default.svc.cluster.local.:8080', from: 'NONE' },
  { target: '/admin', host: 'Web.Default.Svc.Cluster.Local', from: 'NONE' },
  { target: 'http://web/admin', from: 'NONE' },
  { target: '/./admin', from: 'BASE' },
  { target: '/x/../admin', from: 'BASE' },
  { target: '/%2e/admin', from: 'BASE' },
  { target: '/%2E%2E/admin', from: 'BASE' },
  { target: '/x/%2e%2e/admin', from: 'BASE' },
  { target: '/%2e%2e/%2e%2e/admin/secret', from: 'BASE' },
  { target: '/%61dmin', from: 'BASE' },
  { target: '/%61%64%6D%69%6e', from: 'BASE' },
  { target: '/x//../admin', from: 'BASE' },
  { target: '//admin', from: 'MERGE_SLASHES' },
  { target: '///admin/secret', from: 'MERGE_SLASHES' },
  { target: '/%2Fadmin', from: 'DECODE_AND_MERGE_SLASHES' },
  { target: '/%2fadmin', from: 'DECODE_AND_MERGE_SLASHES' },
  { target: '/x/..%2Fadmin', from: 'DECODE_AND_MERGE_SLASHES' },
  { target: '/%5Cadmin', from: 'DECODE_AND_MERGE_SLASHES' },
  { target: '/%5cadmin%5csecret', from: 'DECODE_AND_MERGE_SLASHES' },
  { target: '/admin%2Fsecret', from: 'DECODE_AND_MERGE_SLASHES' },
];

/** What a lenient server makes of a path: decode once, `\` as `/`, merge slashes, resolve dots. */
function lenient(path: string): string {
  let p = path.split('?')[0]!;
  try {
    p = decodeURIComponent(p);
  } catch {
    /* left as is */
  }
  p = p.replace(/\\/g, '/').replace(/\/{2,}/g, '/');
  const out: string[] = [];
  for (const seg of p.split('/').slice(1)) {
    if (seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  return `/${out.join('/')}`;
}
const isAdmin = (p: string) => p === '/admin' || p.startsWith('/admin/');

/** One raw request (the target exactly as written); resolves the status code, or 0 if the connection closed without one. */
function raw(host: string, port: number, target: string, hostHeader: string, id: number): Promise<number> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    let buf = '';
    const timer = setTimeout(() => (s.destroy(), resolve(0)), 10_000);
    s.setEncoding('latin1');
    s.on('connect', () => s.write(`GET ${target} HTTP/1.1\r\nHost: ${hostHeader}\r\nx-variant: ${id}\r\nconnection: close\r\n\r\n`));
    s.on('data', (d) => (buf += d));
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      const m = /^HTTP\/1\.1 (\d{3})/.exec(buf);
      resolve(m ? Number(m[1]) : 0);
    });
  });
}

const DENY = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: deny-admin
  namespace: default
spec:
  selector:
    matchLabels:
      app: web
  action: DENY
  rules:
  - to:
    - operation:
        paths: ["/admin", "/admin/*"]
`;
const SERVICE = `apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: default
spec:
  selector:
    app: web
  ports:
  - name: http
    port: 8080
`;

test('a DENY on /admin holds against path and host spellings under every pathNormalization mode', { timeout: 600_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-normalization-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const rows: string[][] = [];
  const outcome = new Map<string, string>();
  for (const mode of MODES) {
    const meshFile = join(dir, `${mode}.yaml`);
    writeFileSync(meshFile, `pathNormalization:\n  normalization: ${mode}\n`);
    const mesh = await startMesh(undefined, { config: { 'web.yaml': SERVICE, 'deny.yaml': DENY }, controlplaneArgs: ['--mesh', meshFile] });
    try {
      const received = new Map<number, string>();
      const web = await mesh.startPod({
        name: 'web',
        labels: { app: 'web' },
        ports: { http: 8080 },
        app: (ip) => {
          const server = createServer((req, res) => {
            received.set(Number(req.headers['x-variant']), req.url ?? '');
            res.end('ok');
          }).listen(8080, ip);
          return { close: () => new Promise<void>((r) => server.close(() => r())) };
        },
      });
      // The sidecar has the policy once the plain spelling is refused and a public path is not.
      assert.equal(await raw(web.podIP, 8080, '/public', 'web', -1), 200);
      for (const [i, v] of VARIANTS.entries()) {
        const status = await raw(web.podIP, 8080, v.target, v.host ?? 'web', i);
        const got = received.get(i);
        const through = got !== undefined && isAdmin(lenient(got));
        outcome.set(`${mode}|${i}`, through ? `THROUGH as ${got}` : got !== undefined ? `${status} (app got ${got})` : String(status));
        if (MODES.indexOf(mode) >= MODES.indexOf(v.from)) {
          assert.ok(!through, `${mode}: ${v.target} (Host ${v.host ?? 'web'}) reached the app as ${got}`);
        }
      }
      // The proxy is still serving after every odd spelling.
      assert.equal(await raw(web.podIP, 8080, '/public', 'web', -2), 200);
    } finally {
      await mesh.stop();
    }
  }
  rows.push(['request target', 'Host', 'must hold from', ...MODES]);
  for (const [i, v] of VARIANTS.entries()) rows.push([v.target, v.host ?? 'web', v.from, ...MODES.map((m) => outcome.get(`${m}|${i}`) ?? '')]);
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const r of rows) t.diagnostic(r.map((cell, c) => cell.padEnd(widths[c]!)).join('  '));
});
