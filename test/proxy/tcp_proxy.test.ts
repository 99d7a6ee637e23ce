/** tcp_proxy through a static bootstrap: echo, half-close, failure flags, circuit breaker, idle timeout. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { openConn, roundTrip, startEcho, startProxy, staticCluster, tcpListener, TCP_PROXY, until, listen, closeServer } from './helpers.ts';
import { refusedPort } from '../helpers/refused_port.ts';

test('static bootstrap with a tcp_proxy listener: TCP echo through the proxy, stats counted', async () => {
  const echo = await startEcho();
  const proxy = await startProxy({ clusters: [staticCluster('echo', [echo.port])], listeners: [tcpListener('tcp', 'echo')] });
  try {
    assert.equal(await roundTrip(proxy.port('tcp'), 'hello through tsmesh'), 'hello through tsmesh');
    const big = 'x'.repeat(1 << 20);
    assert.equal((await roundTrip(proxy.port('tcp'), big)).length, big.length);
    const s = proxy.server.store;
    await until(() => s.counter('tcp.tcp.downstream_cx_rx_bytes_total').value() > 0, 'byte stats');
    assert.equal(s.counter('tcp.tcp.downstream_cx_total').value(), 2);
    assert.equal(s.counter('cluster.echo.upstream_cx_total').value(), 2);
    assert.equal(s.counter('listener.127.0.0.1_0.downstream_cx_total').value(), 2);
    assert.equal(s.counter('tcp.tcp.downstream_cx_rx_bytes_total').value(), 'hello through tsmesh'.length + big.length);
  } finally {
    await proxy.close();
    await echo.close();
  }
});

test('half-close: the client FIN reaches the upstream and the reply still comes back', async () => {
  // Upstream answers only after the client's FIN: proves FIN forwarding and that the other direction stays open.
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    let n = 0;
    s.on('data', (d) => (n += d.length));
    s.on('end', () => s.end(`got ${n} bytes`));
  });
  const port = await listen(server);
  const proxy = await startProxy({ clusters: [staticCluster('up', [port])], listeners: [tcpListener('tcp', 'up')] });
  try {
    assert.equal(await roundTrip(proxy.port('tcp'), 'abcdef'), 'got 6 bytes');
  } finally {
    await proxy.close();
    await closeServer(server);
  }
});

test('failures close the downstream and count: UF (connect failure), NR (unknown cluster)', async () => {
  const deadPort = await refusedPort();
  const proxy = await startProxy({
    clusters: [staticCluster('dead', [deadPort])],
    listeners: [tcpListener('uf', 'dead'), tcpListener('nr', 'no-such-cluster')],
  });
  try {
    assert.equal(await roundTrip(proxy.port('uf'), 'x'), '');
    assert.equal(await roundTrip(proxy.port('nr'), 'x'), '');
    const s = proxy.server.store;
    await until(() => s.counter('cluster.dead.upstream_cx_connect_fail').value() === 1, 'connect fail stat');
    assert.equal(s.counter('tcp.nr.downstream_cx_no_route').value(), 1);
  } finally {
    await proxy.close();
  }
});

test('circuit breaker max_connections: the connection over the limit is refused, others keep working', async () => {
  const echo = await startEcho();
  const proxy = await startProxy({
    clusters: [staticCluster('echo', [echo.port], { circuit_breakers: { thresholds: [{ max_connections: 2 }] } })],
    listeners: [tcpListener('tcp', 'echo')],
  });
  try {
    const a = await openConn(proxy.port('tcp'));
    const b = await openConn(proxy.port('tcp'));
    assert.equal(await a.ask('a'), 'a');
    assert.equal(await b.ask('b'), 'b');
    assert.equal(await roundTrip(proxy.port('tcp'), 'c'), '', 'third connection is closed');
    assert.equal(proxy.server.store.counter('cluster.echo.upstream_cx_overflow').value(), 1);
    assert.equal(await a.ask('still'), 'still');
    a.socket.destroy();
    await a.closed;
    await until(() => echo.connections() === 1, 'upstream closed');
    assert.equal(await roundTrip(proxy.port('tcp'), 'd'), 'd', 'capacity is released on close');
    b.socket.destroy();
  } finally {
    await proxy.close();
    await echo.close();
  }
});

test('weighted_clusters spread connections over clusters; idle_timeout closes idle sessions', async () => {
  const echo = await startEcho();
  const listener = tcpListener('w', 'unused');
  listener.filter_chains[0].filters[0].typed_config = { '@type': TCP_PROXY, stat_prefix: 'w', idle_timeout: '1s', weighted_clusters: { clusters: [{ name: 'a', weight: 1 }, { name: 'b', weight: 1 }] } };
  const proxy = await startProxy({ clusters: [staticCluster('a', [echo.port]), staticCluster('b', [echo.port])], listeners: [listener] });
  try {
    for (let i = 0; i < 40; i++) assert.equal(await roundTrip(proxy.port('w'), 'x'), 'x');
    const s = proxy.server.store;
    assert.ok(s.counter('cluster.a.upstream_cx_total').value() > 0 && s.counter('cluster.b.upstream_cx_total').value() > 0);
    const idle = await openConn(proxy.port('w'));
    await idle.closed;
    assert.equal(s.counter('tcp.w.idle_timeout').value(), 1);
  } finally {
    await proxy.close();
    await echo.close();
  }
});

test('max_downstream_connection_duration closes a busy session once its life is over; idle_timeout alone would not', async () => {
  const echo = await startEcho();
  const listener = tcpListener('m', 'a');
  listener.filter_chains[0].filters[0].typed_config = { '@type': TCP_PROXY, stat_prefix: 'm', cluster: 'a', idle_timeout: '10s', max_downstream_connection_duration: '1s' };
  const proxy = await startProxy({ clusters: [staticCluster('a', [echo.port])], listeners: [listener] });
  try {
    const c = await openConn(proxy.port('m'));
    let answered = 0;
    let open = true;
    void c.closed.then(() => (open = false));
    // Keep talking (never idle) until the proxy ends the session; bounded at 10 s.
    const deadline = Date.now() + 10_000;
    while (open && Date.now() < deadline) {
      try {
        if ((await c.ask('ping')) === 'ping') answered++;
      } catch {
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    await c.closed;
    assert.ok(answered >= 3, `the session carried traffic before it ended (${answered} answers)`);
    assert.equal(proxy.server.store.counter('tcp.m.max_downstream_connection_duration').value(), 1);
    assert.equal(proxy.server.store.counter('tcp.m.idle_timeout').value(), 0);
  } finally {
    await proxy.close();
    await echo.close();
  }
});
