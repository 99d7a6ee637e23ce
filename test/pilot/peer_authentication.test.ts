/**
 * PeerAuthentication on a sidecar's inbound side, with Istio's precedence: a workload-selector
 * policy in the workload's namespace, then the namespace-wide one, then the mesh-wide one in the
 * root namespace; port-level modes only from a workload policy; UNSET defers to the next level;
 * nothing at all is PERMISSIVE. The mode decides the filter chains: STRICT has only the mTLS
 * chain, PERMISSIVE both (told apart by the TLS inspector), DISABLE only plaintext.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generate } from '../../src/pilot/generator.ts';
import { mtlsModeFor } from '../../src/pilot/listener/peer_authentication.ts';
import { TYPE } from '../../src/xds/types.ts';
import { proxyFor, pushFromYaml, workload } from './fixtures.ts';

const SERVICE = `apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {selector: {app: web}, ports: [{name: http, port: 80, targetPort: 8080}, {name: admin, port: 81, targetPort: 9090}]}
`;
const web = workload('web-1', '127.0.9.1', { app: 'web', 'security.istio.io/tlsMode': 'istio' }, { namespace: 'shop' });

function pa(namespace: string, spec: string, name = 'default'): string {
  return `---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: ${name}, namespace: ${namespace}}\nspec: ${spec}\n`;
}

function modes(policies: string): [number, string][] {
  const push = pushFromYaml(SERVICE + policies, [web]);
  const proxy = proxyFor(web);
  return [8080, 9090].map((port) => [port, mtlsModeFor(push, proxy, port)]);
}

test('precedence: workload over namespace over mesh; port level from the workload policy; UNSET defers; default PERMISSIVE', () => {
  assert.deepEqual(modes(''), [[8080, 'PERMISSIVE'], [9090, 'PERMISSIVE']]);
  assert.deepEqual(modes(pa('istio-system', '{mtls: {mode: STRICT}}')), [[8080, 'STRICT'], [9090, 'STRICT']]);
  assert.deepEqual(modes(pa('istio-system', '{mtls: {mode: STRICT}}') + pa('shop', '{mtls: {mode: PERMISSIVE}}')), [[8080, 'PERMISSIVE'], [9090, 'PERMISSIVE']]);
  assert.deepEqual(modes(pa('shop', '{mtls: {mode: STRICT}}') + pa('shop', '{selector: {matchLabels: {app: web}}, mtls: {mode: DISABLE}}', 'web')), [[8080, 'DISABLE'], [9090, 'DISABLE']]);
  assert.deepEqual(
    modes(pa('shop', '{mtls: {mode: STRICT}}') + pa('shop', '{selector: {matchLabels: {app: web}}, mtls: {mode: UNSET}, portLevelMtls: {"9090": {mode: DISABLE}}}', 'web')),
    [[8080, 'STRICT'], [9090, 'DISABLE']],
    'UNSET at the workload defers to the namespace; the port-level mode still applies',
  );
  assert.deepEqual(modes(pa('other', '{mtls: {mode: STRICT}}')), [[8080, 'PERMISSIVE'], [9090, 'PERMISSIVE']], "another namespace's policy does not apply");
  assert.deepEqual(modes(pa('shop', '{selector: {matchLabels: {app: api}}, mtls: {mode: STRICT}}', 'api')), [[8080, 'PERMISSIVE'], [9090, 'PERMISSIVE']], 'a selector that does not match does not apply');
});

test('the mode decides the inbound filter chains: STRICT mTLS only, PERMISSIVE both, DISABLE plaintext only', () => {
  const chains = (policies: string) => {
    const push = pushFromYaml(SERVICE + policies, [web]);
    const listeners = generate(push, proxyFor(web), TYPE.LISTENER).map((r) => r.resource);
    return listeners
      .flatMap((l) => l.filter_chains ?? [])
      .filter((c: any) => c.filter_chain_match?.destination_port === 8080 || (c.name ?? '').startsWith('inbound|8080'))
      .map((c: any) => `${c.filter_chain_match?.transport_protocol ?? 'any'}${c.transport_socket ? '+tls' : ''}`)
      .sort();
  };
  assert.deepEqual(chains(pa('shop', '{mtls: {mode: STRICT}}')), ['tls+tls']);
  assert.deepEqual(chains(''), ['raw_buffer', 'tls+tls']);
  assert.deepEqual(chains(pa('shop', '{mtls: {mode: DISABLE}}')), ['raw_buffer']);
});
