/**
 * Istio's TCP metrics at the proxy level over real mutual TLS (certificates from the test CA): an
 * INBOUND tcp_proxy chain with istio.stats in front of an echo server, reached by a client that
 * presents a SPIFFE certificate but does not speak the metadata exchange (a mesh client without
 * it, as the demo's tcp-echo probes). Shows the labels Istio gives a peer known only by its
 * certificate (namespace from the SAN, canonical revision "latest"), and periodic reporting: an
 * open connection's bytes appear every tcp_reporting_duration as deltas, before it closes; a peer
 * that negotiates the metadata exchange and stalls is closed at the exchange deadline.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import { createPki, hasOpenssl, type Pki } from '../helpers/certs.ts';
import { renderPrometheus } from '../../src/proxy/stats/render.ts';
import { ISTIO_FILTER, TYPED_STRUCT } from '../../src/xds/type_urls.ts';
import type { EnvoyJson } from '../../src/xds/types.ts';
import { startEcho, startProxy, staticCluster, TCP_PROXY, until, type Proxy } from './helpers.ts';
import { downstreamTls, leaf } from './rbac_helpers.ts';

const CLIENT_ID = 'spiffe://cluster.local/ns/shop/sa/cart';
const SERVER_ID = 'spiffe://cluster.local/ns/default/sa/server';
const ts = (type_url: string, value: EnvoyJson) => ({ '@type': TYPED_STRUCT[0], type_url, value });

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
function scrape(p: Proxy): Sample[] {
  const out: Sample[] = [];
  for (const line of renderPrometheus(p.server.store.snapshot()).split('\n')) {
    const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-z_]+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}
const find = (s: Sample[], name: string, match: Record<string, string> = {}) => s.filter((x) => x.name === name && Object.entries(match).every(([k, v]) => x.labels[k] === v));

/** An open TLS connection through the proxy: write, read the echo, close at will. */
function openTls(port: number, pki: Pki, cert: { cert: string; key: string }): Promise<{ ask(s: string): Promise<string>; close(): Promise<void> }> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca: pki.ca, cert: cert.cert, key: cert.key, servername: 'server.local', checkServerIdentity: () => undefined }, () =>
      resolve({
        ask: (msg) =>
          new Promise((res) => {
            let got = '';
            const on = (d: Buffer) => {
              got += d.toString();
              if (got.length >= msg.length) (s.off('data', on), res(got));
            };
            s.on('data', on);
            s.write(msg);
          }),
        close: () => new Promise((res) => (s.once('close', () => res()), s.end())),
      }),
    );
    s.once('error', reject);
  });
}

function withAlpn(ts: EnvoyJson, alpn: string[]): EnvoyJson {
  const tc = ts.typed_config;
  return { ...ts, typed_config: { ...tc, common_tls_context: { ...tc.common_tls_context, alpn_protocols: alpn } } };
}

describe('istio.stats on an inbound mTLS TCP chain', { skip: !hasOpenssl() && 'openssl CLI not available' }, () => {
  let pki: Pki;
  let echo: Awaited<ReturnType<typeof startEcho>>;
  let proxy: Proxy;
  let client: { cert: string; key: string };

  before(async () => {
    pki = createPki();
    const server = leaf(pki, 'server', `URI:${SERVER_ID}, DNS:server.local`, 'serverAuth');
    client = leaf(pki, 'client', `URI:${CLIENT_ID}`, 'clientAuth');
    echo = await startEcho();
    const meta = { metadata: { filter_metadata: { istio: { services: [{ host: 'server.default.svc.cluster.local', name: 'server', namespace: 'default' }] } } } };
    proxy = await startProxy(
      {
        clusters: [staticCluster('inbound|9000||', [echo.port], meta)],
        listeners: [
          {
            name: 'in-tcp',
            address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
            traffic_direction: 'INBOUND',
            filter_chains: [
              {
                transport_socket: downstreamTls(pki, server, true),
                filters: [
                  { name: 'istio.stats', typed_config: ts(ISTIO_FILTER.STATS, {}) },
                  { name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': TCP_PROXY, stat_prefix: 'in', cluster: 'inbound|9000||' } },
                ],
              },
            ],
          },
          {
            name: 'in-tcp-mx',
            address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
            traffic_direction: 'INBOUND',
            filter_chains: [
              {
                transport_socket: withAlpn(downstreamTls(pki, server, true), ['istio-peer-exchange', 'h2', 'http/1.1']),
                filters: [
                  { name: 'istio.metadata_exchange', typed_config: ts(ISTIO_FILTER.METADATA_EXCHANGE, { protocol: 'istio-peer-exchange' }) },
                  { name: 'istio.stats', typed_config: ts(ISTIO_FILTER.STATS, {}) },
                  { name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': TCP_PROXY, stat_prefix: 'in3', cluster: 'inbound|9000||' } },
                ],
              },
            ],
          },
          {
            name: 'in-tcp-periodic',
            address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
            traffic_direction: 'INBOUND',
            filter_chains: [
              {
                transport_socket: downstreamTls(pki, server, true),
                filters: [
                  { name: 'istio.stats', typed_config: ts(ISTIO_FILTER.STATS, { tcp_reporting_duration: '0.2s', metrics: [{ dimensions: { periodic: "'yes'" } }] }) },
                  { name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': TCP_PROXY, stat_prefix: 'in2', cluster: 'inbound|9000||' } },
                ],
              },
            ],
          },
        ],
      },
      { extra: { node: { id: 'sidecar~127.0.0.1~server-v1-1.default~default.svc.cluster.local', cluster: 'server.default', metadata: { NAMESPACE: 'default', WORKLOAD_NAME: 'server-v1', LABELS: { app: 'server', version: 'v1' }, SERVICE_ACCOUNT: 'server', CLUSTER_ID: 'Kubernetes' } } } },
    );
  });
  after(async () => {
    await proxy?.close();
    await echo?.close();
    pki?.dispose();
  });

  test('a peer known only by its certificate: namespace from the SPIFFE id, canonical revision "latest"', async (t) => {
    const c = await openTls(proxy.port('in-tcp'), pki, client);
    assert.equal(await c.ask('cert only'), 'cert only');
    await c.close();
    const closed = find(scrape(proxy), 'istio_tcp_connections_closed_total', { reporter: 'destination', source_principal: CLIENT_ID });
    assert.equal(closed.length, 1, JSON.stringify(find(scrape(proxy), 'istio_tcp_connections_closed_total')));
    t.diagnostic(`source labels: ${JSON.stringify(Object.fromEntries(Object.entries(closed[0]!.labels).filter(([k]) => k.startsWith('source_'))))}`);
    assert.equal(closed[0]!.labels.source_workload_namespace, 'shop', 'namespace from /ns/<ns>/ of the SAN');
    assert.equal(closed[0]!.labels.source_canonical_revision, 'latest');
    assert.equal(closed[0]!.labels.source_workload, 'unknown');
    assert.equal(closed[0]!.labels.connection_security_policy, 'mutual_tls');
  });

  test('an open connection\'s bytes are reported every tcp_reporting_duration, as deltas, before it closes', async (t) => {
    const c = await openTls(proxy.port('in-tcp-periodic'), pki, client);
    assert.equal(await c.ask('first:12345'), 'first:12345');
    // The listener's metrics carry periodic="yes" (a CEL dimension: the slow path is periodic too).
    const bytes = (name: string) => find(scrape(proxy), name, { reporter: 'destination', source_principal: CLIENT_ID, periodic: 'yes' }).reduce((n, x) => n + x.value, 0);
    const seen = await until(() => (bytes('istio_tcp_received_bytes_total') >= 11 ? bytes('istio_tcp_received_bytes_total') : undefined), 'received bytes of the open connection', 10_000, 50);
    await until(() => (bytes('istio_tcp_sent_bytes_total') === 11 ? true : undefined), 'sent bytes of the open connection', 10_000, 50);
    t.diagnostic(`open connection: received ${seen}, sent ${bytes('istio_tcp_sent_bytes_total')}, opened ${bytes('istio_tcp_connections_opened_total')}, closed ${bytes('istio_tcp_connections_closed_total')}`);
    assert.equal(seen, 11);
    assert.equal(bytes('istio_tcp_connections_closed_total'), 0, 'the connection is still open');
    assert.equal(await c.ask('second'), 'second');
    await until(() => (bytes('istio_tcp_received_bytes_total') === 17 ? true : undefined), 'the next delta', 10_000, 50);
    await c.close();
    await until(() => (bytes('istio_tcp_connections_closed_total') === 1 ? true : undefined), 'closed', 10_000, 50);
    assert.equal(bytes('istio_tcp_received_bytes_total'), 17, 'deltas add up to the connection\'s bytes, none counted twice');
    assert.equal(bytes('istio_tcp_sent_bytes_total'), 17);
  });

  test('a client that negotiates istio-peer-exchange and never sends its frame is closed after the exchange deadline, and counted', async (t) => {
    const counter = () => proxy.server.store.counter('metadata_exchange.exchange_timeout').value();
    const before = counter();
    const s = tls.connect({ host: '127.0.0.1', port: proxy.port('in-tcp-mx'), ca: pki.ca, cert: client.cert, key: client.key, servername: 'server.local', ALPNProtocols: ['istio-peer-exchange'], checkServerIdentity: () => undefined });
    s.on('error', () => {});
    await new Promise<void>((r) => s.once('secureConnect', () => r()));
    assert.equal(s.alpnProtocol, 'istio-peer-exchange');
    // Half a header, then silence.
    s.write(Buffer.from([0x3d, 0x23]));
    let timer: NodeJS.Timeout | undefined;
    const closedByProxy = await Promise.race([new Promise<boolean>((r) => s.once('close', () => r(true))), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), 15_000)))]);
    clearTimeout(timer);
    s.destroy();
    assert.ok(closedByProxy, 'the proxy closed the stalled exchange');
    t.diagnostic(`metadata_exchange.exchange_timeout ${counter() - before}`);
    assert.equal(counter() - before, 1);
    const closed = await until(() => find(scrape(proxy), 'istio_tcp_connections_closed_total', { reporter: 'destination', source_principal: CLIENT_ID, response_flags: '-' }).reduce((n, x) => n + x.value, 0) || undefined, 'the closed connection reported', 5000, 50);
    assert.ok(closed >= 1);
  });
});
