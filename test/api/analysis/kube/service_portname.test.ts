/**
 * service.PortNameAnalyzer on Istio's testdata (Istio's expected sets): unnamed or unknown-prefix
 * ports are IST0118, ExternalName Services with such or `tcp` port names IST0150; named ports,
 * Istio's own Services and Kubernetes' namespaces give nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { labels, NO_TESTDATA, onFiles, onYaml } from './run_kube.ts';

const A = 'service.PortNameAnalyzer';

test('port names on Istio testdata', { skip: NO_TESTDATA }, () => {
  const ms = onFiles(A, ['service-no-port-name.yaml']);
  assert.deepEqual(labels(ms), [
    'IST0118 Service my-namespace1/my-service1',
    'IST0118 Service my-namespace1/my-service1',
    'IST0118 Service my-namespace2/my-service2',
  ]);
  assert.ok(ms.some((m) => m.text === "Port name foo (port: 8080, targetPort: 8080) doesn't follow the naming convention of Istio port."));
  assert.deepEqual(labels(onFiles(A, ['service-port-name.yaml'])), []);
  assert.deepEqual(labels(onFiles(A, ['service-no-port-name-system-namespace.yaml'])), []);
  assert.deepEqual(labels(onFiles(A, ['incorrect-port-name-external-name-service-type.yaml'])), [
    'IST0150 Service nginx-ns/nginx',
    'IST0150 Service nginx-ns2/nginx-svc2',
    'IST0150 Service nginx-ns3/nginx-svc3',
  ]);
  assert.deepEqual(labels(onFiles(A, ['correct-port-name-external-name-service-type.yaml'])), []);
  assert.deepEqual(onFiles(A, ['service-no-port-name.yaml'], false), [], '--use-kube=false skips it');
});

test('appProtocol, well-known ports and UDP need no name', () => {
  const yaml = `apiVersion: v1
kind: Service
metadata: {name: s}
spec:
  ports:
  - {port: 8080, appProtocol: http}
  - {port: 3306}
  - {port: 53, protocol: UDP, name: dns}
  - {port: 9000, name: grpc-web-ui}
  - {port: 9001, name: web}
`;
  assert.deepEqual(onYaml(A, yaml).map((m) => m.text), ["Port name web (port: 9001, targetPort: 0) doesn't follow the naming convention of Istio port."]);
});
