/**
 * `npm run bench -- proxy`: HTTP/1.1 keep-alive, 1 KiB responses, all on this machine in one run:
 * (a) direct to the upstream, (b) one tsmesh proxy, (c) nginx and HAProxy as proxies configured
 * alike, (d) two tsmesh proxies in series; then at a fixed 1,000 rps the latency (d) adds over
 * (a) with the proxies' CPU seconds and RSS; then TCP passthrough MB/s against direct.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer } from 'node:net';
import { cpuSeconds, rssMB, start, type Started } from './lib/procs.ts';
import { freePort } from './lib/ports.ts';
import { wrk, type WrkResult } from './lib/wrk.ts';
import { fixedRate } from './lib/probe.ts';
import { haproxyConfig, httpBootstrap, nginxProxy, nginxUpstream, tcpBootstrap } from './lib/configs.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const TSMESH = ['--import', 'tsx', 'src/cli/main.ts', 'proxy'];

function line(label: string, r: WrkResult, base?: WrkResult): string {
  const ratio = base ? `  ${(r.rps / base.rps).toFixed(2)}x direct` : '';
  return `${label.padEnd(28)} ${r.rps.toFixed(0).padStart(8)} req/s  p50 ${r.p50ms.toFixed(2)} ms  p99 ${r.p99ms.toFixed(2)} ms  errors ${r.errors}${ratio}`;
}

async function tsmeshProxy(dir: string, name: string, listen: number, upstream: number): Promise<Started> {
  const admin = await freePort();
  const f = httpBootstrap(dir, name, listen, upstream, admin);
  return start(`tsmesh ${name}`, process.execPath, [...TSMESH, '--bootstrap', f, '--concurrency', '1', '--log-level', 'warn'], { port: listen });
}

export async function run(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-bench-'));
  const procs: Started[] = [];
  try {
    const up = await freePort();
    procs.push(await start('nginx upstream', 'nginx', ['-c', nginxUpstream(dir, up), '-e', join(dir, 'nginx-up.err')], { port: up }));
    const direct = wrk(`http://127.0.0.1:${up}/`, { seconds: SECONDS, connections: CONNS });
    console.log(line('(a) direct', direct));

    const p1 = await freePort();
    const one = await tsmeshProxy(dir, 'hop1', p1, up);
    procs.push(one);
    wrk(`http://127.0.0.1:${p1}/`, { seconds: 1, connections: CONNS }); // warm-up (JIT)
    const cpu0 = cpuSeconds(one.proc.pid!);
    const b = wrk(`http://127.0.0.1:${p1}/`, { seconds: SECONDS, connections: CONNS });
    const cpuB = cpuSeconds(one.proc.pid!) - cpu0;
    console.log(line('(b) one tsmesh proxy', b, direct) + `  cpu ${cpuB.toFixed(1)} s  rss ${rssMB(one.proc.pid!).toFixed(0)} MB`);

    const pn = await freePort();
    const ngx = await start('nginx proxy', 'nginx', ['-c', nginxProxy(dir, pn, up), '-e', join(dir, 'nginx-px.err')], { port: pn });
    procs.push(ngx);
    const c1 = wrk(`http://127.0.0.1:${pn}/`, { seconds: SECONDS, connections: CONNS });
    console.log(line('(c) nginx proxy', c1, direct));
    await ngx.stop();

    const ph = await freePort();
    const hap = await start('haproxy', 'haproxy', ['-f', haproxyConfig(dir, ph, up), '-db'], { port: ph });
    procs.push(hap);
    const c2 = wrk(`http://127.0.0.1:${ph}/`, { seconds: SECONDS, connections: CONNS });
    console.log(line('(c) haproxy', c2, direct));
    await hap.stop();

    const p2 = await freePort();
    const two = await tsmeshProxy(dir, 'hop2', p2, p1);
    procs.push(two);
    wrk(`http://127.0.0.1:${p2}/`, { seconds: 1, connections: CONNS });
    const d = wrk(`http://127.0.0.1:${p2}/`, { seconds: SECONDS, connections: CONNS });
    console.log(line('(d) two tsmesh proxies', d, direct));

    console.log(`ratio: one tsmesh proxy / nginx proxy = ${(b.rps / c1.rps).toFixed(2)} (aim >= 0.6 per core); / haproxy = ${(b.rps / c2.rps).toFixed(2)}`);

    // Fixed 1,000 rps, open loop: what two hops add to the latency of a direct call.
    const rate = 1000;
    const secs = Number(process.env.BENCH_RATE_SECONDS ?? 10);
    const a1k = await fixedRate(`http://127.0.0.1:${up}/`, rate, secs);
    const c0 = cpuSeconds(one.proc.pid!) + cpuSeconds(two.proc.pid!);
    const d1k = await fixedRate(`http://127.0.0.1:${p2}/`, rate, secs);
    const cpu = cpuSeconds(one.proc.pid!) + cpuSeconds(two.proc.pid!) - c0;
    console.log(`at ${rate} rps for ${secs} s: direct p50 ${a1k.p50ms.toFixed(3)} p90 ${a1k.p90ms.toFixed(3)} p99 ${a1k.p99ms.toFixed(3)} ms; two hops p50 ${d1k.p50ms.toFixed(3)} p90 ${d1k.p90ms.toFixed(3)} p99 ${d1k.p99ms.toFixed(3)} ms (errors ${d1k.errors})`);
    console.log(
      `added by two hops: p50 +${(d1k.p50ms - a1k.p50ms).toFixed(3)} ms, p90 +${(d1k.p90ms - a1k.p90ms).toFixed(3)} ms, p99 +${(d1k.p99ms - a1k.p99ms).toFixed(3)} ms (Istio 1.20 two Envoys: +0.228 p90, +0.298 p99)`,
    );
    const vcpuPer1k = cpu / secs / 2;
    console.log(`proxy CPU: ${(cpu / 2).toFixed(2)} s per proxy over ${secs} s = ${vcpuPer1k.toFixed(3)} vCPU per 1,000 rps (aim <= 0.1; Istio 1.24 Envoy 0.20); RSS hop1 ${rssMB(one.proc.pid!).toFixed(0)} MB, hop2 ${rssMB(two.proc.pid!).toFixed(0)} MB (aim <= 40)`);

    await tcpPassthrough(dir, procs);
  } finally {
    for (const p of procs.reverse()) await p.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Pushes a fixed volume through a TCP sink, direct and through tcp_proxy, and prints MB/s. */
async function tcpPassthrough(dir: string, procs: Started[]): Promise<void> {
  const sink = createServer((s) => {
    s.on('data', () => undefined);
    s.on('end', () => s.end());
  });
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
  const sinkPort = (sink.address() as { port: number }).port;
  const tp = await freePort();
  const admin = await freePort();
  const px = await start('tsmesh tcp', process.execPath, [...TSMESH, '--bootstrap', tcpBootstrap(dir, 'tcp', tp, sinkPort, admin), '--concurrency', '1', '--log-level', 'warn'], { port: tp });
  procs.push(px);
  const MB = Number(process.env.BENCH_TCP_MB ?? 512);
  const direct = await push(sinkPort, MB);
  const proxied = await push(tp, MB);
  console.log(`TCP passthrough ${MB} MB: direct ${direct.toFixed(0)} MB/s, through tcp_proxy ${proxied.toFixed(0)} MB/s (${(proxied / direct).toFixed(2)}x)`);
  sink.close();
}

function push(port: number, mb: number): Promise<number> {
  const chunk = Buffer.alloc(64 * 1024, 7);
  const chunks = (mb * 1024 * 1024) / chunk.length;
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    const t0 = performance.now();
    let sent = 0;
    const write = () => {
      while (sent < chunks) {
        sent++;
        if (!s.write(chunk)) return void s.once('drain', write);
      }
      s.end();
    };
    s.once('connect', write);
    s.on('data', () => undefined);
    s.once('close', () => resolve(mb / ((performance.now() - t0) / 1000)));
    s.once('error', reject);
    setTimeout(() => reject(new Error('tcp push timed out')), 120_000).unref();
  });
}
