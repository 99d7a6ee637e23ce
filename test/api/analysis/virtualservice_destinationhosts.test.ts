/**
 * virtualservice.DestinationHostAnalyzer on Istio's own testdata file, whose comments say which
 * VirtualServices must be flagged. istioctl runs it only with Kubernetes inputs (it needs the
 * Services), so istioctl's file-mode oracle has nothing for it; tsmesh runs it on the files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadInputs } from '../../../src/api/analysis/load.ts';
import { analyze } from '../../../src/api/analysis/run.ts';
import { logLine } from '../../../src/api/analysis/report.ts';
import { TESTDATA } from './conformance.ts';

const FILE = join(TESTDATA, 'virtualservice_destinationhosts.yaml');

test('destination hosts: missing hosts, hidden exports, bad and missing ports are reported; the rest is not', { skip: !existsSync(FILE) && 'istio-data not present' }, () => {
  const { resources } = loadInputs([FILE]);
  const ms = analyze(resources, { analyzers: ['virtualservice.DestinationHostAnalyzer'] });
  const got = ms.map((m) => `${m.code} ${m.resource!.namespace}/${m.resource!.name}: ${m.text}`).sort();
  console.log(ms.map(logLine).join('\n'));
  assert.deepEqual(got, [
    'IST0101 default/reviews-bogushost: Referenced host not found: "reviews-bogus"',
    'IST0101 default/reviews-bogusport: Referenced host:port not found: "reviews:999"',
    'IST0101 default/reviews-bookinfo-other: Referenced host not found: "other.bookinfo.com"',
    'IST0101 default/reviews-mirror-bogushost: Referenced mirror host not found: "reviews-bogus"',
    'IST0101 istio-system/cross-namespace-details: Referenced host not found: "details.default.svc.cluster.local"',
    'IST0112 default/reviews-2port-missing: This VirtualService routes to a service "reviews-2port" that exposes multiple ports [80 443]. Specifying a port in the destination is required to disambiguate.',
  ]);
  // Its line is the destination's host field.
  assert.equal(ms.find((m) => m.resource!.name === 'reviews-bogushost')!.resource!.origin.line(ms.find((m) => m.resource!.name === 'reviews-bogushost')!.path), 99);
});

test('--use-kube=false skips it, as istioctl does', { skip: !existsSync(FILE) && 'istio-data not present' }, () => {
  const { resources } = loadInputs([FILE]);
  assert.deepEqual(analyze(resources, { analyzers: ['virtualservice.DestinationHostAnalyzer'], kubeInputs: false }), []);
});
