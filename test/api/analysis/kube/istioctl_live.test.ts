/**
 * The Kubernetes-object analyzers against the real istioctl: for each Istio testdata file, a
 * stand-in Kubernetes API on loopback (test/helpers/kube_objects_api.ts) serves the file's
 * Kubernetes objects (Pods, Services, Namespaces, Deployments, ConfigMaps, webhooks, plus the
 * namespaces default, istio-system and kube-system), and `istioctl analyze --use-kube=true -A`
 * reads the file's Istio config on top of that "cluster", running these analyzers as on a live
 * one. tsmesh reads the whole file with the same namespaces and, as on a cluster, no assumed
 * ingress gateway; the (code, resource, text) findings of these analyzers' codes must be the same.
 * Skipped without an istioctl binary.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startObjectsApi } from '../../../helpers/kube_objects_api.ts';
import { loadInputs, parseResources } from '../../../../src/api/analysis/load.ts';
import { analyze, friendlyName } from '../../../../src/api/analysis/run.ts';
import { findIstioctl } from '../conformance.ts';
import { NO_TESTDATA, TESTDATA } from './run_kube.ts';

/** The codes only these analyzers give (IST0101 counted when about a selector). */
const CODES = new Set(['IST0162', 'IST0107', 'IST0108', 'IST0125', 'IST0135', 'IST0102', 'IST0103', 'IST0123', 'IST0148', 'IST0118', 'IST0150', 'IST0116', 'IST0137', 'IST0173', 'IST0174', 'IST0110', 'IST0111', 'IST0167']);
const ours = (code: string, text: string, kind: string) => CODES.has(code) || (code === 'IST0101' && (kind === 'Gateway' || kind === 'Sidecar') && text.startsWith('Referenced selector not found'));

/**
 * Where istioctl in this mode (Istio config from the file, Pods from the cluster) also reports a
 * Gateway's selector as matching no Pod although its Pods are served and it checks their ports
 * (IST0162 on the same Gateway, or no message): Istio's own analyzer tests on these files expect
 * no IST0101. Each must still be there, so a change in istioctl shows.
 */
const ISTIOCTL_EXTRA: Record<string, string[]> = {
  'conflicting-gateways-subSelector.yaml': ['IST0101 Gateway alpha', 'IST0101 Gateway beta'],
  'gateway-custom-ingressgateway-badport-notarget.yaml': ['IST0101 Gateway httpbin-gateway'],
  'gateway-custom-ingressgateway-badport.yaml': ['IST0101 Gateway httpbin-gateway'],
  'gateway-custom-ingressgateway-svcselector.yaml': ['IST0101 Gateway httpbin8001-gateway', 'IST0101 Gateway httpbin8002-gateway'],
  'gateway-custom-ingressgateway-translation.yaml': ['IST0101 Gateway httpbin-gateway'],
  'gateway-custom-ingressgateway.yaml': ['IST0101 Gateway httpbin-gateway'],
};

/** API groups the stand-in cluster serves; Istio and Gateway API config stays in the file. */
const KUBE_GROUPS = new Set(['', 'apps', 'admissionregistration.k8s.io']);

const CLUSTER_NAMESPACES = `apiVersion: v1
kind: Namespace
metadata: {name: default}
---
apiVersion: v1
kind: Namespace
metadata: {name: istio-system}
---
apiVersion: v1
kind: Namespace
metadata: {name: kube-system}
`;

function run(cmd: string, args: string[], cwd: string): Promise<string> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const t = setTimeout(() => p.kill('SIGKILL'), 60_000);
    p.on('close', () => {
      clearTimeout(t);
      resolve(out);
    });
  });
}

const istioctl = findIstioctl();

test('these analyzers match istioctl on a (stand-in) live cluster, file by file', { skip: NO_TESTDATA || (!istioctl && 'no istioctl binary (set TSMESH_ISTIOCTL)'), timeout: 600_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-kube-oracle-'));
  const files = readdirSync(TESTDATA).filter((f) => f.endsWith('.yaml') && statSync(join(TESTDATA, f)).isFile()).sort();
  const diffs: string[] = [];
  let compared = 0;
  let findings = 0;
  try {
    for (const f of files) {
      const loaded = loadInputs([join(TESTDATA, f)], { namespace: '' });
      const own = loaded.resources.filter((r) => !r.group.endsWith('istio.io') && !r.group.endsWith('gateway.networking.k8s.io'));
      const cluster = parseResources(CLUSTER_NAMESPACES, 'cluster').resources.filter((n) => !own.some((r) => r.kind === 'Namespace' && r.name === n.name));
      const kube = await startObjectsApi(join(dir, 'kubeconfig'), [...cluster, ...own].filter((r) => KUBE_GROUPS.has(r.group)).map((r) => r.object));
      let out: string;
      try {
        out = await run(istioctl!, ['--kubeconfig', kube.kubeconfig, 'analyze', '--use-kube=true', '-A', '-o', 'json', f], TESTDATA);
      } finally {
        await kube.close();
      }
      const start = out.search(/^\[/m);
      if (start < 0) continue; // istioctl refused the file (parse errors): nothing to compare
      let theirs = (JSON.parse(out.slice(start)) as { code: string; origin?: string; message: string }[])
        .filter((m) => ours(m.code, m.message, (m.origin ?? '').split(' ')[0]))
        .map((m) => `${m.code} ${m.origin ?? ''}: ${m.message}`)
        .sort();
      for (const extra of ISTIOCTL_EXTRA[f] ?? []) {
        if (!theirs.some((t) => t.startsWith(`${extra}: `))) diffs.push(`${f}: istioctl no longer reports ${extra}`);
        theirs = theirs.filter((t) => !t.startsWith(`${extra}: `));
      }
      const resources = [...cluster, ...loaded.resources];
      const mine = analyze(resources, { meshConfig: { ingressControllerMode: 'OFF' } })
        .filter((m) => ours(m.code, m.text, m.resource?.kind ?? ''))
        .map((m) => `${m.code} ${m.resource ? friendlyName(m.resource) : ''}: ${m.text}`)
        .sort();
      compared++;
      findings += theirs.length;
      if (JSON.stringify(theirs) !== JSON.stringify(mine)) diffs.push(`${f}:\n  istioctl: ${theirs.join(', ')}\n  tsmesh:   ${mine.join(', ')}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(diffs.join('\n'));
  console.log(`${compared} files, ${findings} istioctl findings of these analyzers, ${diffs.length} files differ`);
  assert.deepEqual(diffs, []);
});
