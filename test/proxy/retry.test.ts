/**
 * Retries through the proxy with a static Envoy config and real HTTP upstreams on loopback
 * (issue 11, acceptance 4 without the budget part):
 * - an upstream set that fails the first two attempts answers on the third, on three distinct
 *   hosts (previous_hosts), x-envoy-attempt-count 1, 2, 3 upstream and 3 in the response;
 * - per_try_timeout fires on a host that hangs once and the retry answers; per_try_idle_timeout
 *   does the same for a host that stalls, and lets a slow but steady response through;
 * - the back-off between attempts, measured at the upstream, stays in Envoy's jittered bounds
 *   [0, (2^n - 1) x base] capped at max_interval, and is not always zero;
 * - retry_priority previous_priorities moves the third attempt to priority 1 (another locality)
 *   when both priority-0 hosts failed, where without it the request ends on priority 0's 503.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { EnvoyJson } from '../../src/xds/types.ts';
import { RETRY } from '../../src/xds/type_urls.ts';
import { httpListener, startProxy } from './helpers.ts';

/** One upstream host: `answer(n)` decides per request (n counts requests across all hosts). */
interface Upstream {
  name: string;
  port: number;
  close: () => Promise<void>;
}

/** What every host saw, in arrival order. */
interface Seen {
  host: string;
  at: number;
  attempt: string | undefined;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, host: string) => void;

async function upstream(name: string, seen: Seen[], handler: Handler): Promise<Upstream> {
  const server = http.createServer((req, res) => {
    seen.push({ host: name, at: performance.now(), attempt: req.headers['x-envoy-attempt-count'] as string | undefined });
    req.resume();
    req.on('end', () => handler(req, res, name));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    name,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

function endpoint(port: number): EnvoyJson {
  return { endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } };
}

/** A STATIC cluster with one locality per priority. */
function cluster(name: string, priorities: number[][]): EnvoyJson {
  return {
    name,
    type: 'STATIC',
    connect_timeout: '1s',
    load_assignment: {
      cluster_name: name,
      endpoints: priorities.map((ports, priority) => ({ locality: { zone: `zone-${priority}` }, priority, lb_endpoints: ports.map(endpoint) })),
    },
  };
}

const PREVIOUS_HOSTS = [{ name: 'envoy.retry_host_predicates.previous_hosts', typed_config: { '@type': RETRY.PREVIOUS_HOSTS } }];

/** A listener routing everything to `c` with `retry`; the vhost adds x-envoy-attempt-count both ways. */
async function proxyFor(clusters: EnvoyJson[], retry: EnvoyJson, routeExtra: EnvoyJson = {}) {
  const route = { match: { prefix: '/' }, route: { cluster: clusters[0].name, timeout: '10s', retry_policy: retry, ...routeExtra } };
  const listener = httpListener('in', [route]);
  const vhost = listener.filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0];
  vhost.include_request_attempt_count = true;
  vhost.include_attempt_count_in_response = true;
  const proxy = await startProxy({ listeners: [listener], clusters });
  return proxy;
}

function get(port: number, path = '/'): Promise<{ status: number; body: string; attempts: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body, attempts: res.headers['x-envoy-attempt-count'] as string | undefined }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

test('a request failing twice is answered by the third attempt, on a third host', async (t) => {
  const seen: Seen[] = [];
  let n = 0;
  const fail2: Handler = (_req, res, host) => {
    n++;
    res.writeHead(n <= 2 ? 503 : 200).end(host);
  };
  const hosts = await Promise.all(['a', 'b', 'c'].map((h) => upstream(h, seen, fail2)));
  const proxy = await proxyFor([cluster('svc', [hosts.map((h) => h.port)])], {
    retry_on: '5xx',
    num_retries: 2,
    retry_host_predicate: PREVIOUS_HOSTS,
    host_selection_retry_max_attempts: 5,
  });
  t.after(async () => {
    await proxy.close();
    await Promise.all(hosts.map((h) => h.close()));
  });
  const r = await get(proxy.port('in'));
  t.diagnostic(`attempts: ${seen.map((s) => `${s.host}(x-envoy-attempt-count ${s.attempt})`).join(' -> ')}; answer ${r.status} from ${r.body}, x-envoy-attempt-count ${r.attempts}`);
  assert.equal(r.status, 200);
  assert.equal(r.attempts, '3');
  assert.equal(seen.length, 3);
  assert.equal(new Set(seen.map((s) => s.host)).size, 3, 'three distinct hosts');
  assert.deepEqual(
    seen.map((s) => s.attempt),
    ['1', '2', '3'],
  );

  // With no retries left (num_retries 1), the second 503 is the answer.
  n = 0;
  seen.length = 0;
  const p2 = await proxyFor([cluster('svc', [hosts.map((h) => h.port)])], { retry_on: '5xx', num_retries: 1, retry_host_predicate: PREVIOUS_HOSTS });
  t.after(() => p2.close());
  const r2 = await get(p2.port('in'));
  assert.equal(r2.status, 503);
  assert.equal(r2.attempts, '2');
});

test('per_try_timeout fires on a host that hangs once, and the retry answers', async (t) => {
  const seen: Seen[] = [];
  let hung = false;
  const hangOnce: Handler = (_req, res, host) => {
    if (!hung) {
      hung = true;
      return; // never answers
    }
    res.end(host);
  };
  const hosts = await Promise.all(['a', 'b'].map((h) => upstream(h, seen, hangOnce)));
  const proxy = await proxyFor([cluster('svc', [hosts.map((h) => h.port)])], { retry_on: 'reset,5xx', num_retries: 2, per_try_timeout: '0.3s', retry_host_predicate: PREVIOUS_HOSTS });
  t.after(async () => {
    await proxy.close();
    await Promise.all(hosts.map((h) => h.close()));
  });
  const r = await get(proxy.port('in'));
  const gap = seen.length === 2 ? Math.round(seen[1].at - seen[0].at) : -1;
  t.diagnostic(`per-try timeout: ${seen.map((s) => s.host).join(' -> ')}, ${gap} ms between attempts; answer ${r.status} ${r.body}, x-envoy-attempt-count ${r.attempts}`);
  assert.equal(r.status, 200);
  assert.equal(r.attempts, '2');
  assert.notEqual(r.body, seen[0].host, 'answered by the host that did not hang');
  assert.ok(gap >= 250, `the retry waited for the 300 ms per-try timeout (${gap} ms)`);
});

test('per_try_idle_timeout retries a stalled attempt and lets a steady slow response through', async (t) => {
  const seen: Seen[] = [];
  const ok = await upstream('a', seen, (_req, res, host) => void res.end(host));
  // 8 chunks 100 ms apart: 800 ms in all, never idle for 300 ms.
  const trickler = await upstream('t', seen, (_req, res, host) => {
    res.writeHead(200);
    let i = 0;
    const iv = setInterval(() => {
      res.write(`${host}${i}.`);
      if (++i === 8) clearInterval(iv), res.end();
    }, 100);
    res.on('close', () => clearInterval(iv));
  });
  // Headers and a first chunk, then silence.
  const staller = await upstream('s', seen, (_req, res) => {
    res.writeHead(200);
    res.write('partial');
  });
  // Stalls before answering, once.
  let hangFirst = true;
  const hanger = await upstream('h', seen, (_req, res, host) => {
    if (hangFirst) return void (hangFirst = false);
    res.end(host);
  });
  const idle = { retry_on: 'reset', num_retries: 2, per_try_idle_timeout: '0.3s', retry_host_predicate: PREVIOUS_HOSTS };
  const proxy = await proxyFor([cluster('svc', [[hanger.port, ok.port]])], idle);
  const trickle = await proxyFor([cluster('svc', [[trickler.port]])], idle);
  const stall = await proxyFor([cluster('svc', [[staller.port]])], idle);
  t.after(async () => {
    await Promise.all([proxy.close(), trickle.close(), stall.close()]);
    await Promise.all([ok, trickler, staller, hanger].map((h) => h.close()));
  });

  // Whichever host the balancer starts with, the hanging one is given up after 300 ms idle.
  for (let i = 0; i < 2; i++) {
    const r = await get(proxy.port('in'));
    assert.equal(r.status, 200, JSON.stringify(r));
  }
  const hangAttempt = seen.findIndex((s) => s.host === 'h');
  assert.ok(hangAttempt >= 0 && seen[hangAttempt + 1], 'the hanging host was tried, then another');
  const gap = Math.round(seen[hangAttempt + 1].at - seen[hangAttempt].at);
  t.diagnostic(`per-try idle timeout: gave up on the stalled host after ${gap} ms, then ${seen[hangAttempt + 1].host} answered`);
  assert.ok(gap >= 250, `idle for 300 ms before the retry (${gap} ms)`);

  // 800 ms of response, never idle 300 ms: complete, one attempt.
  const slow = await get(trickle.port('in'));
  assert.equal(slow.status, 200);
  assert.equal(slow.body.split('.').length - 1, 8, slow.body);
  assert.equal(slow.attempts, '1');

  // Headers sent, then silence: unlike per_try_timeout the idle timeout keeps running while the
  // response streams, and ends it (the response is cut short: Envoy resets the stream).
  const started = performance.now();
  const cut = await get(stall.port('in')).catch((e: Error) => ({ status: -1, body: e.message, attempts: undefined }));
  t.diagnostic(`stalled mid-response: ${JSON.stringify(cut)} after ${Math.round(performance.now() - started)} ms`);
  assert.equal(cut.status, -1, `the stalled response was reset: ${JSON.stringify(cut)}`);
});

test('back-off between attempts stays within Envoy bounds [0, (2^n - 1) x base] and is jittered', async (t) => {
  const seen: Seen[] = [];
  const always503: Handler = (_req, res) => void res.writeHead(503).end();
  const hosts = await Promise.all(['a', 'b', 'c', 'd'].map((h) => upstream(h, seen, always503)));
  const BASE = 50;
  const MAX = 200;
  const proxy = await proxyFor([cluster('svc', [hosts.map((h) => h.port)])], {
    retry_on: '5xx',
    num_retries: 3,
    retry_back_off: { base_interval: `${BASE / 1000}s`, max_interval: `${MAX / 1000}s` },
  });
  t.after(async () => {
    await proxy.close();
    await Promise.all(hosts.map((h) => h.close()));
  });
  const gapsByRetry: number[][] = [[], [], []];
  for (let i = 0; i < 8; i++) {
    seen.length = 0;
    const r = await get(proxy.port('in'));
    assert.equal(r.status, 503);
    assert.equal(r.attempts, '4');
    assert.equal(seen.length, 4);
    for (let k = 1; k < 4; k++) gapsByRetry[k - 1].push(Math.round(seen[k].at - seen[k - 1].at));
  }
  // The gap also holds one round trip through the proxy; 60 ms covers a loaded machine.
  const SLACK = 60;
  gapsByRetry.forEach((gaps, i) => {
    const n = i + 1;
    const bound = Math.min(MAX, (2 ** n - 1) * BASE);
    t.diagnostic(`retry ${n}: gaps ${gaps.join(', ')} ms (Envoy's bound [0, ${bound}) ms)`);
    for (const g of gaps) assert.ok(g >= 0 && g < bound + SLACK, `retry ${n} gap ${g} ms outside [0, ${bound} + ${SLACK})`);
  });
  const all = gapsByRetry.flat();
  assert.ok(all.some((g) => g >= 10), `back-off is not always zero: ${all.join(', ')}`);
  assert.ok(new Set(all).size > 3, `back-off is jittered: ${all.join(', ')}`);
});

test('retry_priority previous_priorities sends the third attempt to the other locality', async (t) => {
  const seen: Seen[] = [];
  const answer =
    (status: number): Handler =>
    (_req, res, host) =>
      void res.writeHead(status).end(host);
  const local = await Promise.all(['local-1', 'local-2'].map((h) => upstream(h, seen, answer(503))));
  const remote = await upstream('remote', seen, answer(200));
  const prio = [local.map((h) => h.port), [remote.port]];
  const base = { retry_on: '5xx', num_retries: 2, retry_host_predicate: PREVIOUS_HOSTS, host_selection_retry_max_attempts: 5 };
  const withPriority = await proxyFor([cluster('svc', prio)], {
    ...base,
    retry_priority: { name: 'envoy.retry_priorities.previous_priorities', typed_config: { '@type': RETRY.PREVIOUS_PRIORITIES, update_frequency: 2 } },
  });
  const without = await proxyFor([cluster('svc', prio)], base);
  t.after(async () => {
    await Promise.all([withPriority.close(), without.close()]);
    await Promise.all([...local, remote].map((h) => h.close()));
  });

  const r = await get(withPriority.port('in'));
  t.diagnostic(`with previous_priorities: ${seen.map((s) => s.host).join(' -> ')}; ${r.status} ${r.body}`);
  assert.equal(r.status, 200);
  assert.equal(r.body, 'remote');
  assert.deepEqual(seen.map((s) => s.host).slice(0, 2).sort(), ['local-1', 'local-2'], 'two attempts in the local priority first (update_frequency 2)');

  seen.length = 0;
  const r2 = await get(without.port('in'));
  t.diagnostic(`without: ${seen.map((s) => s.host).join(' -> ')}; ${r2.status}`);
  assert.equal(r2.status, 503, 'without a retry priority every attempt stays in priority 0');
  assert.ok(!seen.some((s) => s.host === 'remote'));
});

test('retriable_headers retries a response by its headers; retriable_request_headers limits which requests retry', async (t) => {
  const seen: Seen[] = [];
  let n = 0;
  const host = await upstream('a', seen, (_req, res, name) => {
    n++;
    res.writeHead(200, n % 2 === 1 ? { 'x-upstream-retry': 'yes' } : {}).end(`${name}${n}`);
  });
  const proxy = await proxyFor([cluster('svc', [[host.port]])], {
    retry_on: 'retriable-headers',
    num_retries: 1,
    retriable_headers: [{ name: 'x-upstream-retry', string_match: { exact: 'yes' } }],
    retriable_request_headers: [{ name: ':method', string_match: { exact: 'GET' } }],
  });
  t.after(async () => {
    await proxy.close();
    await host.close();
  });
  const r = await get(proxy.port('in'));
  assert.equal(r.status, 200);
  assert.equal(r.body, 'a2', 'the response marked x-upstream-retry: yes was retried');
  assert.equal(r.attempts, '2');

  // A POST matches no retriable_request_headers entry: never retried.
  n = 0;
  const post = await new Promise<{ body: string; attempts: unknown }>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: proxy.port('in'), method: 'POST', agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ body, attempts: res.headers['x-envoy-attempt-count'] }));
    });
    req.on('error', reject);
    req.end('x');
  });
  assert.deepEqual(post, { body: 'a1', attempts: '1' });
});

test('max_retries 1 still allows a request its second retry: the retried attempt gives its slot back first', async (t) => {
  const seen: Seen[] = [];
  let n = 0;
  const fail2: Handler = (_req, res, host) => {
    n++;
    res.writeHead(n <= 2 ? 503 : 200).end(host);
  };
  const hosts = await Promise.all(['a', 'b', 'c'].map((h) => upstream(h, seen, fail2)));
  const c = { ...cluster('svc', [hosts.map((h) => h.port)]), circuit_breakers: { thresholds: [{ max_retries: 1 }] } };
  const proxy = await proxyFor([c], { retry_on: '5xx', num_retries: 2, retry_host_predicate: PREVIOUS_HOSTS });
  t.after(async () => {
    await proxy.close();
    await Promise.all(hosts.map((h) => h.close()));
  });
  const r = await get(proxy.port('in'));
  assert.equal(r.status, 200, `answered by the third attempt (${seen.length} attempts)`);
  assert.equal(seen.length, 3);
  assert.equal(proxy.server.store.counter('cluster.svc.upstream_rq_retry_overflow').value(), 0);
});
