import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FilterChainMatcher, type MatchInput } from '../../src/proxy/listener/filter_chain_match.ts';

const base: MatchInput = { destinationIp: '10.0.0.1', destinationPort: 9080, sourceIp: '10.0.0.9', sourcePort: 40000 };
const m = (chains: [string, object | undefined][], def?: string) => new FilterChainMatcher(chains.map(([value, match]) => ({ value, match })), def);

test('destination port first, falling back to port-less chains when nothing below matches', () => {
  const fc = m([
    ['port', { destination_port: 9080, server_names: ['a.com'] }],
    ['any', {}],
  ]);
  assert.equal(fc.select({ ...base, serverName: 'a.com' }), 'port');
  assert.equal(fc.select({ ...base, serverName: 'b.com' }), 'any');
  assert.equal(fc.select({ ...base, destinationPort: 1 }), 'any');
});

test('longest destination prefix wins over shorter and over none', () => {
  const fc = m([
    ['none', {}],
    ['wide', { prefix_ranges: [{ address_prefix: '10.0.0.0', prefix_len: 8 }] }],
    ['narrow', { prefix_ranges: [{ address_prefix: '10.0.0.0', prefix_len: 24 }] }],
  ]);
  assert.equal(fc.select(base), 'narrow');
  assert.equal(fc.select({ ...base, destinationIp: '10.9.0.1' }), 'wide');
  assert.equal(fc.select({ ...base, destinationIp: '192.168.0.1' }), 'none');
  assert.equal(fc.select({ ...base, destinationIp: '::ffff:10.0.0.1' }), 'narrow', 'IPv4-mapped IPv6 is IPv4');
});

test('a more specific level does not fall back: destination IP match without SNI match is no match', () => {
  const fc = m([
    ['ip+sni', { prefix_ranges: [{ address_prefix: '10.0.0.1', prefix_len: 32 }], server_names: ['a.com'] }],
    ['sni-only', { server_names: ['b.com'] }],
  ], 'default');
  assert.equal(fc.select({ ...base, serverName: 'b.com' }), 'default');
});

test('server names: exact, then the longest wildcard, then none', () => {
  const fc = m([
    ['exact', { server_names: ['www.example.com'] }],
    ['wild', { server_names: ['*.example.com'] }],
    ['wider', { server_names: ['*.com'] }],
    ['none', {}],
  ]);
  assert.equal(fc.select({ ...base, serverName: 'www.example.com' }), 'exact');
  assert.equal(fc.select({ ...base, serverName: 'api.example.com' }), 'wild');
  assert.equal(fc.select({ ...base, serverName: 'a.b.example.com' }), 'wild');
  assert.equal(fc.select({ ...base, serverName: 'other.com' }), 'wider');
  assert.equal(fc.select({ ...base, serverName: 'other.org' }), 'none');
  assert.equal(fc.select(base), 'none');
});

test('transport protocol and ALPN, as Istio uses them for mTLS vs plaintext and h2 vs http/1.1', () => {
  const fc = m([
    ['tls-h2', { transport_protocol: 'tls', application_protocols: ['istio-h2', 'h2'] }],
    ['tls', { transport_protocol: 'tls' }],
    ['raw-http', { transport_protocol: 'raw_buffer', application_protocols: ['http/1.1', 'h2c'] }],
    ['raw', { transport_protocol: 'raw_buffer' }],
  ]);
  assert.equal(fc.select({ ...base, transportProtocol: 'tls', applicationProtocols: ['h2'] }), 'tls-h2');
  assert.equal(fc.select({ ...base, transportProtocol: 'tls', applicationProtocols: ['x'] }), 'tls');
  assert.equal(fc.select({ ...base, transportProtocol: 'raw_buffer', applicationProtocols: ['h2c'] }), 'raw-http');
  assert.equal(fc.select({ ...base, transportProtocol: 'raw_buffer' }), 'raw');
  assert.equal(fc.select(base), 'raw', 'no inspector result means raw_buffer');
});

test('source type, source prefix and source port come last', () => {
  const fc = m([
    ['local', { source_type: 'SAME_IP_OR_LOOPBACK' }],
    ['src-port', { source_type: 'EXTERNAL', source_prefix_ranges: [{ address_prefix: '10.0.0.0', prefix_len: 24 }], source_ports: [40000] }],
    ['src', { source_type: 'EXTERNAL', source_prefix_ranges: [{ address_prefix: '10.0.0.0', prefix_len: 24 }] }],
  ], 'default');
  assert.equal(fc.select({ ...base, sourceIp: '127.0.0.1' }), 'local');
  assert.equal(fc.select(base), 'src-port');
  assert.equal(fc.select({ ...base, sourcePort: 1 }), 'src');
  assert.equal(fc.select({ ...base, sourceIp: '172.16.0.1' }), 'default');
});

test('no match and no default chain: undefined (the connection is closed)', () => {
  assert.equal(m([['a', { destination_port: 1 }]]).select(base), undefined);
});

test('malformed CIDRs are rejected with their path', () => {
  assert.throws(() => m([['x', { prefix_ranges: [{ address_prefix: 'nope', prefix_len: 8 }] }]]), /filter_chains\[0\]\.filter_chain_match\.prefix_ranges\[0\]\.address_prefix: not an IP/);
  assert.throws(() => m([['x', { source_prefix_ranges: [{ address_prefix: '10.0.0.0', prefix_len: 33 }] }]]), /source_prefix_ranges\[0\]\.prefix_len: 33 out of range/);
});
