/**
 * kube-inject output for Istio's sample workloads, pinned by golden files (the injected
 * workloads only; the samples themselves stay in ../shared/istio-data). Regenerate with
 * UPDATE_GOLDEN=1 after an intended change, and read the diff.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { kubeInjectText } from '../../src/kube/inject/manifests.ts';
import { defaultInjectionSettings } from '../../src/kube/inject/settings.ts';
import { ISTIO_DATA } from '../helpers/istio_data.ts';

const GOLDEN_DIR = fileURLToPath(new URL('./testdata/inject/', import.meta.url));
const SAMPLES: Array<[string, string]> = [
  ['bookinfo', 'samples/bookinfo/platform/kube/bookinfo.yaml'],
  ['httpbin', 'samples/httpbin/httpbin.yaml'],
  ['sleep', 'samples/sleep/sleep.yaml'],
  ['curl', 'samples/curl/curl.yaml'],
  ['helloworld', 'samples/helloworld/helloworld.yaml'],
  ['fortio', 'samples/httpbin/sample-client/fortio-deploy.yaml'],
];
/** Defaults, but an image that does not change with every release (the version is in the default's tag). */
const settings = () => ({ ...defaultInjectionSettings(), image: 'tsmesh/tsmesh:golden' });
const WORKLOADS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob', 'ReplicaSet', 'Pod']);

for (const [name, rel] of SAMPLES) {
  test(`kube-inject ${rel} matches testdata/inject/${name}.golden.yaml and leaves other documents as written`, () => {
    const input = readFileSync(join(ISTIO_DATA, rel), 'utf8');
    const r = kubeInjectText(input, settings());
    assert.deepEqual(r.errors, []);
    // Same input, same bytes.
    assert.equal(kubeInjectText(input, settings()).text, r.text);

    const inDocs = parseAllDocuments(input).filter((d) => d.toJS() !== null);
    const outDocs = parseAllDocuments(r.text).filter((d) => d.toJS() !== null);
    assert.equal(outDocs.length, inDocs.length, 'one output document per input document');
    const workloads: string[] = [];
    for (const [i, out] of outDocs.entries()) {
      const o = out.toJS();
      if (WORKLOADS.has(o.kind)) {
        const tpl = o.kind === 'Pod' ? o : o.spec.template;
        assert.ok(tpl.metadata.annotations['sidecar.istio.io/status'], `${o.kind}/${o.metadata.name} was injected`);
        assert.equal(tpl.spec.initContainers.find((c: any) => c.name === 'istio-proxy')?.restartPolicy, 'Always');
        workloads.push(out.toString({ lineWidth: 0 }).replace(/^---\n/, ''));
      } else {
        assert.deepEqual(o, inDocs[i]!.toJS(), `document ${i + 1} (${o.kind}) passes through unchanged`);
      }
    }
    assert.ok(workloads.length > 0, 'the sample has workloads');
    const got = workloads.join('---\n');
    const file = join(GOLDEN_DIR, `${name}.golden.yaml`);
    if (process.env.UPDATE_GOLDEN === '1') {
      mkdirSync(GOLDEN_DIR, { recursive: true });
      writeFileSync(file, got);
    }
    assert.ok(existsSync(file), `no golden ${file}: run with UPDATE_GOLDEN=1 to write it`);
    assert.equal(got, readFileSync(file, 'utf8'));
  });
}
