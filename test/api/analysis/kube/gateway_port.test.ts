/**
 * gateway.IngressGatewayPortAnalyzer on Istio's gateway testdata (what Istio's analyzer tests
 * expect): a selector with no Pod is IST0101, a server port no selecting Service exposes is
 * IST0162 (Istio's successor of IST0104), a port reached as a targetPort or through a
 * port→targetPort mapping is fine; the default istio-ingressgateway istioctl assumes for files
 * counts; --use-kube=false skips it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { labels, NO_TESTDATA, onFiles, onYaml } from './run_kube.ts';

const A = 'gateway.IngressGatewayPortAnalyzer';

test('gateway ports and selectors on Istio testdata', { skip: NO_TESTDATA }, () => {
  const expected: Record<string, string[]> = {
    'gateway-no-workload.yaml': ['IST0101 Gateway httpbin-gateway'],
    'gateway-no-port.yaml': ['IST0162 Gateway httpbin-gateway'],
    'gateway-correct-port.yaml': [],
    'gateway-custom-ingressgateway.yaml': [],
    'gateway-custom-ingressgateway-badport.yaml': ['IST0162 Gateway httpbin-gateway'],
    'gateway-custom-ingressgateway-badport-notarget.yaml': ['IST0162 Gateway httpbin-gateway'],
    'gateway-custom-ingressgateway-translation.yaml': [],
    'gateway-custom-ingressgateway-svcselector.yaml': ['IST0162 Gateway httpbin8002-gateway'],
    'gateway-different-port.yaml': [],
  };
  for (const [file, want] of Object.entries(expected)) assert.deepEqual(labels(onFiles(A, [file])), want, file);
  const [noPod] = onFiles(A, ['gateway-no-workload.yaml']);
  assert.equal(noPod.text, 'Referenced selector not found: "istio=ingresstypo"');
  assert.match(onFiles(A, ['gateway-no-port.yaml'])[0].text, /target port \(port 8004\).*\(Pod selector istio=ingressgateway\)/);
  assert.deepEqual(onFiles(A, ['gateway-no-workload.yaml'], false), [], '--use-kube=false skips it');
});

test('a Deployment stands for its Pods; ingress turned off removes the default gateway', () => {
  const gw = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  selector: {app: edge}
  servers:
  - port: {number: 8443, name: https, protocol: HTTPS}
    hosts: ["*"]
`;
  const deploy = `---
apiVersion: apps/v1
kind: Deployment
metadata: {name: edge}
spec:
  selector: {matchLabels: {app: edge}}
  template:
    metadata: {labels: {app: edge}}
    spec: {containers: [{name: istio-proxy, image: proxyv2}]}
---
apiVersion: v1
kind: Service
metadata: {name: edge}
spec:
  selector: {app: edge}
  ports: [{name: https, port: 443, targetPort: 8443}]
`;
  assert.deepEqual(labels(onYaml(A, gw)), ['IST0101 Gateway default/gw']);
  assert.deepEqual(labels(onYaml(A, gw + deploy)), []);
  const off = `---
apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data:
  mesh: "ingressControllerMode: 'OFF'"
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
`;
  assert.deepEqual(labels(onYaml(A, off)), ['IST0101 Gateway default/gw']);
  assert.deepEqual(labels(onYaml(A, off.replace("'OFF'", "'STRICT'"))), []);
});
