// The apply-time warning of issue 10: an AuthorizationPolicy using HTTP-only keys where it
// reaches a TCP port (Istio's tcp-echo Service: ports named tcp and tcp-other).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfigs } from '../../src/api/yaml.ts';
import { crossValidate } from '../../src/api/validation/cross.ts';

const SERVICES = `apiVersion: v1
kind: Service
metadata: { name: tcp-echo, namespace: foo }
spec:
  selector: { app: tcp-echo }
  ports: [{ name: tcp, port: 9000 }, { name: tcp-other, port: 9001 }]
---
apiVersion: v1
kind: Service
metadata: { name: httpbin, namespace: foo }
spec:
  selector: { app: httpbin }
  ports: [{ name: http, port: 8000 }]
`;
const policy = (action: string, selector: string, operation: string) => `---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: p, namespace: foo }
spec:
  ${selector}
  action: ${action}
  rules:
  - to:
    - operation: ${operation}
`;
const warnings = (yaml: string) => crossValidate(parseConfigs(yaml, { file: 'x.yaml' }).configs).map((e) => `${e.severity} ${e.path} ${e.message}`);

test('ALLOW with methods on the tcp-echo workload: warned that the rule admits nothing on its TCP ports', () => {
  assert.deepEqual(warnings(SERVICES + policy('ALLOW', 'selector: { matchLabels: { app: tcp-echo } }', '{ methods: ["GET"], ports: ["9000"] }')), [
    'warning spec.rules[0] HTTP-only key spec.rules[0].to[0].operation.methods on a policy that also reaches TCP ports tcp-echo:9000, tcp-echo:9001: this rule matches nothing there, so it admits no connection on those ports',
  ]);
});

test('DENY with methods, namespace-wide: warned that it denies more on the TCP ports', () => {
  const w = warnings(SERVICES + policy('DENY', '', '{ methods: ["GET"] }'));
  assert.equal(w.length, 1);
  assert.match(w[0]!, /tcp-echo:9000, tcp-echo:9001: they are ignored there, so this rule denies more on those ports$/);
});

test('no warning for HTTP keys on an HTTP-only workload, or for TCP keys on a TCP workload', () => {
  assert.deepEqual(warnings(SERVICES + policy('ALLOW', 'selector: { matchLabels: { app: httpbin } }', '{ methods: ["GET"] }')), []);
  assert.deepEqual(warnings(SERVICES + policy('ALLOW', 'selector: { matchLabels: { app: tcp-echo } }', '{ ports: ["9000"] }')), []);
});
