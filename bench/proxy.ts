/**
 * `npm run bench -- proxy`: issue 8's table in one run, all on this machine. Nine paths — direct
 * to the upstream (nginx), one tsmesh proxy, nginx as proxy, HAProxy as proxy, the floor (a byte
 * pipe on node:net with no HTTP, on tsmesh's runtime; one and two in series, HTTP/1.1 only), two
 * nginx proxies in series (HTTP/1.1 only, the two-hop goal's yardstick), two tsmesh proxies
 * in series, and two tsmesh sidecars talking ISTIO_MUTUAL mTLS to each other (issue 9's cost:
 * certificates from tsmesh's CA; the mTLS line's ratio to the plaintext two hops is printed
 * under each table) — for three protocols: HTTP/1.1 keep-alive (wrk), h2 (h2load, h2c prior knowledge
 * into each proxy, HTTP/1.1 to the upstream) and unary gRPC (h2load POSTing one gRPC message,
 * h2c both sides, to nginx answering gRPC itself). Rounds are taken round-robin across the paths
 * and the medians printed, since this machine's speed swings between minutes. Then, open-loop at
 * a fixed 1,000 req/s: each proxy's vCPU per 1,000 req/s and RSS, and what two tsmesh hops (and
 * two nginx hops, and two byte pipes) add to direct's latency over several runs; then the RSS of a sidecar serving
 * Bookinfo's config (the memory goal's condition); then TCP passthrough; then the goals,
 * met or not. A default run takes about 11 minutes (plus building dist/ when stale).
 *
 * For quick codec comparisons: BENCH_ROUNDS=1 BENCH_PROTOCOLS=h1 BENCH_HOP_RUNS=1.
 *
 * Besides req/s, each proxy's CPU time per request is read from /proc: on a 2-core machine shared
 * with the load generator (and often with other work), req/s swings with whatever else runs,
 * while requests per CPU-second ("per core") is what the goals compare and stays comparable. It
 * is printed split into user and kernel time: the kernel's share (system calls, and the loopback
 * delivery into the peer inside each write) is about the same for every proxy, and the floor line
 * says how much of the per-core goal the runtime leaves to the proxy's own code.
 *
 * Environment: BENCH_SECONDS (5 per measurement), BENCH_ROUNDS (3), BENCH_WARMUP_SECONDS (1, first
 * round only), BENCH_CONNECTIONS (32; h2 splits them into connections x BENCH_H2_STREAMS (4)
 * streams), BENCH_PROTOCOLS (h1,h2,grpc), BENCH_RATE_SECONDS (10 per fixed-rate run),
 * BENCH_HOP_RUNS (5), BENCH_TCP_MB (512), BENCH_PROXY_NODE_ARGS (extra node flags for the tsmesh
 * proxies, e.g. "--max-semi-space-size=2"), BENCH_CPU_PROF=<dir> (a V8 CPU profile per tsmesh
 * proxy, written on exit; open in Chrome DevTools), BENCH_NO_INSTALL=1 (never apt-get),
 * BENCH_NO_BUILD=1 (do not rebuild dist/: a stale one means the proxies run src/ through tsx),
 * BENCH_MTLS=0 (no mTLS hop: about 45 s less at the default settings), BENCH_AUTHZ=0 (no
 * authorization cost line: one hop with a JWT and a 20-rule AuthorizationPolicy against one without),
 * BENCH_TELEMETRY=0 (no telemetry cost line: one hop with Istio's default metrics, 1% tracing and
 * an access log against one without), BENCH_ONLY=telemetry|authz (only that cost line, against
 * the upstream alone: a quick check of one feature's cost, about 40 s at the default settings).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer } from 'node:net';
import { cpuSeconds, cpuSplitSeconds, rssMB, rssSplitMB, start, withPeakRss, type Started } from './lib/procs.ts';
import { startBookinfoSidecar } from './lib/bookinfo_sidecar.ts';
import { freePort } from './lib/ports.ts';
import { wrk, type WrkResult } from './lib/wrk.ts';
import { h2load } from './lib/h2load.ts';
import { fixedRate } from './lib/probe.ts';
import { grpcRequestFile, GRPC_PATH, haproxyConfig, nginxProxy, nginxUpstream, tcpBootstrap } from './lib/configs.ts';
import { ensureTools } from './lib/tools.ts';
import { grpcUnaryCheck } from './lib/grpc_check.ts';
import { evaluateGoals, goalLines, type GoalInputs } from './lib/goals.ts';
import { median, num, table } from './lib/table.ts';
import { startOnProxyRuntime, tsmeshProxy, startTsmeshProxy } from './lib/tsmesh_proxy.ts';
import { downstreamMtls, mintWorkloadCerts, upstreamMtls } from './lib/mtls.ts';
import { authzBenchFilters } from './lib/authz_cost.ts';
import { telemetryBenchExtra } from './lib/telemetry_cost.ts';
import type { HcmExtra } from './lib/configs.ts';
import { ZipkinCollector } from '../src/controlplane/zipkin/collector.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3));
const WARMUP = Number(process.env.BENCH_WARMUP_SECONDS ?? 1);
const CONNS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const H2_STREAMS = Number(process.env.BENCH_H2_STREAMS ?? 4);
const H2_CONNS = Math.max(1, Math.round(CONNS / H2_STREAMS));
const RATE_SECONDS = Number(process.env.BENCH_RATE_SECONDS ?? 10);
const HOP_RUNS = Math.max(1, Number(process.env.BENCH_HOP_RUNS ?? 5));
const MTLS = process.env.BENCH_MTLS !== '0';
const AUTHZ = process.env.BENCH_AUTHZ !== '0';
const TELEMETRY = process.env.BENCH_TELEMETRY !== '0';
const ONLY = process.env.BENCH_ONLY;
const PROTOCOLS = (process.env.BENCH_PROTOCOLS ?? 'h1,h2,grpc').split(',').filter((p): p is Protocol => p === 'h1' || p === 'h2' || p === 'grpc');

type Protocol = 'h1' | 'h2' | 'grpc';
type PathKey = 'direct' | 'tsmesh1' | 'nginx' | 'haproxy' | 'floor' | 'tsmesh2' | 'nginx2' | 'floor2' | 'tsmesh2mtls';

const PROTOCOL_TITLE: Record<Protocol, string> = {
  h1: `HTTP/1.1 keep-alive (wrk -t1 -c${CONNS}, 1 KiB responses)`,
  h2: `h2 (h2load -t1 -c${H2_CONNS} -m${H2_STREAMS}, h2c prior knowledge into each proxy, HTTP/1.1 keep-alive to the upstream, 1 KiB)`,
  grpc: `gRPC unary (h2load -t1 -c${H2_CONNS} -m${H2_STREAMS} POST ${GRPC_PATH}, h2c both sides; upstream: nginx answering gRPC itself)`,
};

/** One path under test: the processes whose CPU counts, and its port per protocol. */
interface BenchPath {
  key: PathKey;
  label: string;
  /** Proxy processes (none for direct); two for two hops, whose CPU is summed. */
  procs: Started[];
  port: Partial<Record<Protocol, number>>;
}

interface Measured extends WrkResult {
  /** Proxy CPU seconds spent per request, in microseconds (NaN when not measured). */
  cpuUsPerReq: number;
  /** The same, in user code and in the kernel (system calls, loopback delivery to the peer). */
  userUsPerReq: number;
  sysUsPerReq: number;
}

function load(proto: Protocol, port: number, seconds: number, grpcBody: string): Promise<WrkResult> {
  const url = `http://127.0.0.1:${port}${proto === 'grpc' ? GRPC_PATH : '/'}`;
  if (proto === 'h1') return wrk(url, { seconds, connections: CONNS });
  const grpc = proto === 'grpc' ? { dataFile: grpcBody, headers: { 'content-type': 'application/grpc', te: 'trailers' } } : {};
  return h2load(url, { seconds, connections: H2_CONNS, streams: H2_STREAMS, ...grpc });
}

/** Load against one path while reading the CPU time of its proxies. */
async function measure(p: BenchPath, proto: Protocol, grpcBody: string): Promise<Measured> {
  return withCpu(p.procs, () => load(proto, p.port[proto]!, SECONDS, grpcBody));
}

/** Runs a load while reading the CPU time of `procs` (summed), per request completed. */
async function withCpu(procs: Started[], run: () => Promise<WrkResult>): Promise<Measured> {
  const pids = procs.map((s) => s.proc.pid!);
  const sum = () => pids.map(cpuSplitSeconds).reduce((a, c) => ({ user: a.user + c.user, sys: a.sys + c.sys }), { user: 0, sys: 0 });
  const c0 = sum();
  const r = await run();
  const c1 = sum();
  const per = (s: number) => (pids.length && r.requests > 0 ? (s / r.requests) * 1e6 : NaN);
  const [user, sys] = [per(c1.user - c0.user), per(c1.sys - c0.sys)];
  return { ...r, cpuUsPerReq: user + sys, userUsPerReq: user, sysUsPerReq: sys };
}

/** Peak RSS per proxy process, sampled through the whole run (under every load it sees). */
class RssPeaks {
  private peak = new Map<number, number>();
  private timer: NodeJS.Timeout;
  constructor(private readonly procs: () => Started[]) {
    this.timer = setInterval(() => this.sample(), 500);
  }
  sample(): void {
    for (const s of this.procs()) {
      const pid = s.proc.pid!;
      if (s.proc.exitCode === null) this.peak.set(pid, Math.max(this.peak.get(pid) ?? 0, rssMB(pid)));
    }
  }
  of(s: Started): number {
    return this.peak.get(s.proc.pid!) ?? NaN;
  }
  stop(): void {
    clearInterval(this.timer);
  }
}

export async function run(): Promise<void> {
  const tools = ensureTools();
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-bench-'));
  const procs: Started[] = [];
  const rss = new RssPeaks(() => procs.filter((p) => p.name !== 'nginx upstream' && p.name !== 'node upstream'));
  const goals: GoalInputs = {};
  const t0 = performance.now();
  try {
    if (ONLY === 'telemetry' || ONLY === 'authz') {
      if (!tools.path.wrk) throw new Error(`BENCH_ONLY=${ONLY} needs wrk`);
      const up = (await startUpstream(dir, procs)).port.h1!;
      await (ONLY === 'telemetry' ? telemetryCost : authorizationCost)(dir, procs, up);
      return;
    }
    const paths = await startPaths(dir, procs);
    const protocols = PROTOCOLS.filter((proto) => {
      if (proto === 'h1' && !tools.path.wrk) return void console.log(`HTTP/1.1 rows skipped: wrk ${tools.why.wrk}`);
      if (proto !== 'h1' && !tools.path.h2load) return void console.log(`${proto} rows skipped: h2load ${tools.why.h2load}`);
      if (proto !== 'h1' && !tools.path.nginx) return void console.log(`${proto} rows skipped: nginx (the h2 and gRPC upstream) ${tools.why.nginx}`);
      return true;
    });
    if (protocols.includes('grpc')) await checkGrpc(paths);
    const grpcBody = grpcRequestFile(dir);

    console.log(
      'Columns: CPU us/req = the proxy\'s user+system CPU seconds (/proc) / requests completed; k req/s per core = 1000 / that; ' +
        '"vs nginx" = this path / nginx as proxy (per core: nginx CPU per request / this one\'s). h2 and gRPC are h2c (prior knowledge, ' +
        'no TLS) into every proxy: tsmesh\'s HTTP listener takes h2c on the same port as HTTP/1.1, and plaintext keeps TLS cost out of all three alike.',
    );
    // Round-robin rounds: every path once per protocol per round, so a slow minute hits all alike.
    const samples = new Map<string, Measured[]>();
    for (let round = 1; round <= ROUNDS; round++) {
      for (const proto of protocols) {
        for (const p of paths) {
          const port = p.port[proto];
          if (port === undefined) continue;
          if (round === 1 && WARMUP > 0) await load(proto, port, WARMUP, grpcBody); // JIT, pools
          const m = await measure(p, proto, grpcBody);
          samples.set(`${proto}/${p.key}`, [...(samples.get(`${proto}/${p.key}`) ?? []), m]);
        }
      }
      console.log(`round ${round}/${ROUNDS} done (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
    }
    for (const proto of protocols) {
      const r = printProtocol(proto, paths, samples);
      (goals.rpsRatio ??= {})[proto] = r.rps;
      if (proto === 'h1') {
        goals.h1PerCore = r.perCore;
        goals.h1P99Ratio = r.p99;
        goals.floor = { ...goals.floor, perCore: r.floor?.perCore, p99: r.floor?.p99 };
      } else if (proto === 'h2') goals.h2PerCore = r.perCore;
      else goals.grpcPerCore = r.perCore;
    }

    await fixedRatePerProxy(paths, rss, goals);
    await twoHopsAdded(paths, goals);
    if (tools.path.nginx && tools.path.wrk) await bookinfoMemory(dir, tools.path.nginx, goals);
    else console.log('\nBookinfo sidecar memory skipped: needs nginx (the app) and wrk');
    await tcpPassthrough(dir, procs);
    if (AUTHZ && tools.path.wrk) await authorizationCost(dir, procs, paths[0]!.port.h1!);
    else if (AUTHZ) console.log('\nAuthorization cost skipped: needs wrk');
    if (TELEMETRY && tools.path.wrk) await telemetryCost(dir, procs, paths[0]!.port.h1!);
    else if (TELEMETRY) console.log('\nTelemetry cost skipped: needs wrk');
  } finally {
    rss.stop();
    for (const p of procs.reverse()) await p.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
  console.log('\nGoals (issue 8; ratios against nginx measured in this run):');
  for (const l of goalLines(evaluateGoals(goals))) console.log(l);
  console.log(`proxy bench took ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}

/** The upstream (nginx: HTTP/1.1, h2c and gRPC ports; node's http server without nginx). */
async function startUpstream(dir: string, procs: Started[]): Promise<BenchPath> {
  const tools = ensureTools();
  const [up, upH2, upGrpc] = [await freePort(), await freePort(), await freePort()];
  const direct: BenchPath = { key: 'direct', label: 'direct (nginx upstream)', procs: [], port: { h1: up } };
  if (tools.path.nginx) {
    procs.push(await start('nginx upstream', tools.path.nginx, ['-c', nginxUpstream(dir, up, { h2cPort: upH2, grpcPort: upGrpc }), '-e', join(dir, 'nginx-up.err')], { port: up }));
    direct.port = { h1: up, h2: upH2, grpc: upGrpc };
  } else {
    console.log(`nginx ${tools.why.nginx}: upstream is node's http server instead (slower than nginx, so ratios to "direct" flatter the proxies)`);
    procs.push(await start('node upstream', process.execPath, ['--import', 'tsx', 'bench/lib/node_upstream.ts', String(up)], { port: up }));
    direct.label = 'direct (node upstream)';
  }
  return direct;
}

/** Starts the upstream and every proxy once; each serves HTTP/1.1, h2c and gRPC on its ports. */
async function startPaths(dir: string, procs: Started[]): Promise<BenchPath[]> {
  const tools = ensureTools();
  const direct = await startUpstream(dir, procs);
  const up = direct.port.h1!;
  const grpcUp = direct.port.grpc; // nginx only
  const paths: BenchPath[] = [direct];

  const [p1, g1] = [await freePort(), await freePort()];
  const one = await tsmeshProxy(dir, 'hop1', p1, up, grpcUp ? { port: g1, upstreamPort: grpcUp } : undefined);
  procs.push(one);
  // tsmesh's listener is codec AUTO: HTTP/1.1 and h2c prior knowledge on the same port.
  paths.push({ key: 'tsmesh1', label: 'tsmesh, 1 hop', procs: [one], port: { h1: p1, h2: p1, grpc: grpcUp && g1 } });

  if (tools.path.nginx) {
    const [pn, pnH2, pnG] = [await freePort(), await freePort(), await freePort()];
    const extra = { h2cPort: pnH2, ...(grpcUp ? { grpc: { port: pnG, upstreamPort: grpcUp } } : {}) };
    const ngx = await start('nginx proxy', tools.path.nginx, ['-c', nginxProxy(dir, pn, up, extra), '-e', join(dir, 'nginx-px.err')], { port: pn });
    procs.push(ngx);
    paths.push({ key: 'nginx', label: 'nginx as proxy', procs: [ngx], port: { h1: pn, h2: pnH2, grpc: grpcUp && pnG } });
  } else console.log(`nginx as proxy skipped: ${tools.why.nginx}`);

  if (tools.path.haproxy) {
    const [ph, phH2, phG] = [await freePort(), await freePort(), await freePort()];
    const extra = { h2cPort: phH2, ...(grpcUp ? { grpc: { port: phG, upstreamPort: grpcUp } } : {}) };
    const hap = await start('haproxy', tools.path.haproxy, ['-f', haproxyConfig(dir, ph, up, extra), '-db'], { port: ph });
    procs.push(hap);
    paths.push({ key: 'haproxy', label: 'HAProxy as proxy', procs: [hap], port: { h1: ph, h2: phH2, grpc: grpcUp && phG } });
  } else console.log(`HAProxy as proxy skipped: ${tools.why.haproxy}`);

  // The runtime's floor: HTTP/1.1 bytes piped on node:net with no HTTP work, on tsmesh's runtime.
  const pipe = async (name: string, to: number) => {
    const port = await freePort();
    const p = await startOnProxyRuntime(name, join(import.meta.dirname, 'lib', 'byte_pipe.mjs'), [String(port), String(to)], { port });
    procs.push(p);
    return { p, port };
  };
  const floor = await pipe('byte pipe', up);
  paths.push({ key: 'floor', label: 'floor: byte pipe, no HTTP', procs: [floor.p], port: { h1: floor.port } });

  // Hop 2 forwards to hop 1: HTTP/1.1 for the HTTP rows (an h2 client's requests too), h2 for gRPC.
  const [p2, g2] = [await freePort(), await freePort()];
  const two = await tsmeshProxy(dir, 'hop2', p2, p1, grpcUp ? { port: g2, upstreamPort: g1 } : undefined);
  procs.push(two);
  paths.push({ key: 'tsmesh2', label: 'tsmesh, 2 hops', procs: [one, two], port: { h1: p2, h2: p2, grpc: grpcUp && g2 } });
  const ngx1 = paths.find((p) => p.key === 'nginx');
  if (ngx1) {
    // The two-hop goal's yardstick on this machine: nginx forwarding to nginx, as the two tsmesh hops do.
    const [pn2, dir2] = [await freePort(), mkdtempSync(join(dir, 'nginx2-'))];
    const ngx2 = await start('nginx proxy 2', tools.path.nginx!, ['-c', nginxProxy(dir2, pn2, ngx1.port.h1!), '-e', join(dir2, 'nginx-px.err')], { port: pn2 });
    procs.push(ngx2);
    paths.push({ key: 'nginx2', label: 'nginx, 2 hops', procs: [...ngx1.procs, ngx2], port: { h1: pn2 } });
  }
  const floor2 = await pipe('byte pipe 2', floor.port);
  paths.push({ key: 'floor2', label: 'floor: 2 byte pipes', procs: [floor.p, floor2.p], port: { h1: floor2.port } });
  if (MTLS) paths.push(await startMtlsHops(dir, procs, up, grpcUp));
  return paths;
}

/**
 * Two sidecars with ISTIO_MUTUAL between them: the client's (plaintext in, mTLS out with its
 * workload certificate, checking the server's SPIFFE ID) and the server's (STRICT: mTLS in,
 * client certificate required; plaintext to the upstream). Same codecs as the plaintext two hops.
 */
async function startMtlsHops(dir: string, procs: Started[], up: number, grpcUp: number | undefined): Promise<BenchPath> {
  const [client, server] = await mintWorkloadCerts(dir, [
    { namespace: 'bench', serviceAccount: 'client' },
    { namespace: 'bench', serviceAccount: 'server' },
  ]);
  const [si, sg] = [await freePort(), await freePort()];
  const inbound = await tsmeshProxy(dir, 'mtls-server', si, up, grpcUp ? { port: sg, upstreamPort: grpcUp } : undefined, { listener: downstreamMtls(server!) });
  procs.push(inbound);
  const host = 'server.bench.svc.cluster.local';
  const [ci, cg] = [await freePort(), await freePort()];
  const outbound = await tsmeshProxy(dir, 'mtls-client', ci, si, grpcUp ? { port: cg, upstreamPort: sg } : undefined, {
    cluster: upstreamMtls(client!, server!.spiffeId, host, si, 'http/1.1'),
    grpcCluster: upstreamMtls(client!, server!.spiffeId, host, sg, 'h2'),
  });
  procs.push(outbound);
  return { key: 'tsmesh2mtls', label: 'tsmesh, 2 hops mTLS', procs: [outbound, inbound], port: { h1: ci, h2: ci, grpc: grpcUp && cg } };
}

/** One real gRPC call per path first; a path that does not answer gRPC gets no gRPC row. */
async function checkGrpc(paths: BenchPath[]): Promise<void> {
  const bad: string[] = [];
  for (const p of paths) {
    if (p.port.grpc === undefined) continue;
    const r = await grpcUnaryCheck(p.port.grpc);
    if (r !== 'ok') {
      bad.push(`${p.label}: ${r}`);
      delete p.port.grpc;
    }
  }
  console.log(bad.length ? `gRPC check (one @grpc/grpc-js unary call per path) failed, rows dropped: ${bad.join('; ')}` : 'gRPC check: one @grpc/grpc-js unary call answered OK through every path');
}

/** Prints one protocol's table (medians over rounds); returns tsmesh 1 hop's ratios to nginx. */
function printProtocol(proto: Protocol, paths: BenchPath[], samples: Map<string, Measured[]>): { perCore?: number; p99?: number; rps?: number; floor?: { perCore: number; p99: number } } {
  const med = (key: PathKey) => {
    const s = samples.get(`${proto}/${key}`);
    if (!s) return undefined;
    const mid = medianCpuRound(s);
    return {
      rps: median(s.map((m) => m.rps)),
      p50: median(s.map((m) => m.p50ms)),
      p99: median(s.map((m) => m.p99ms)),
      cpu: median(s.map((m) => m.cpuUsPerReq)),
      // Split as the round of median CPU split it, so the two parts add up to the CPU column.
      user: mid.userUsPerReq,
      sys: mid.sysUsPerReq,
      errors: s.reduce((a, m) => a + m.errors, 0),
    };
  };
  const ngx = med('nginx');
  const rows = paths.flatMap((p) => {
    const m = med(p.key);
    if (!m) return [];
    const vsNginx = ngx && p.key !== 'nginx' && p.key !== 'direct';
    return [
      [
        p.label,
        num(m.rps),
        num(m.p50, 2),
        num(m.p99, 2),
        String(m.errors),
        num(m.cpu, 1) + (p.procs.length > 1 ? ' (both)' : ''),
        Number.isFinite(m.cpu) ? `${num(m.user, 1)} + ${num(m.sys, 1)}` : '—',
        Number.isFinite(m.cpu) ? num(1e3 / m.cpu, 1) : '—',
        vsNginx ? `${(m.rps / ngx.rps).toFixed(2)}x` : '',
        vsNginx && p.procs.length === 1 ? `${(ngx.cpu / m.cpu).toFixed(2)}x` : '',
        vsNginx ? `${(m.p99 / ngx.p99).toFixed(2)}x` : '',
      ],
    ];
  });
  console.log(`\n${PROTOCOL_TITLE[proto]}; medians of ${ROUNDS} round(s) of ${SECONDS} s`);
  console.log(
    table(['path', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'CPU us/req', 'user + kernel', 'k req/s per core', 'req/s vs nginx', 'per core vs nginx', 'p99 vs nginx'], rows),
  );
  const [plain, mtls] = [med('tsmesh2'), med('tsmesh2mtls')];
  if (plain && mtls) {
    console.log(
      `mTLS cost, two hops mTLS / two hops plaintext: req/s ${(mtls.rps / plain.rps).toFixed(2)}x, p99 ${(mtls.p99 / plain.p99).toFixed(2)}x, ` +
        `CPU per request ${(mtls.cpu / plain.cpu).toFixed(2)}x (${num(mtls.cpu - plain.cpu, 1)} us more for both proxies)`,
    );
  }
  if (proto === 'grpc' && ngx && ngx.errors > 0) {
    console.log(
      "nginx's gRPC errors are 5xx from its grpc_pass (error log: \"upstream sent frame for unknown stream\"): the nginx upstream answers before " +
        'the request DATA frame arrives, then resets the stream (RST_STREAM NO_ERROR), a race nginx-to-nginx only; HAProxy and tsmesh take the same upstream.',
    );
  }
  const t = med('tsmesh1');
  const floor = med('floor');
  if (ngx && t && floor) printFloor(ngx, t, floor);
  const floorVs = floor && ngx ? { perCore: ngx.cpu / floor.cpu, p99: floor.p99 / ngx.p99 } : undefined;
  return ngx && t ? { perCore: ngx.cpu / t.cpu, p99: t.p99 / ngx.p99, rps: t.rps / ngx.rps, floor: floorVs } : {};
}

type CpuSplit = { cpu: number; user: number; sys: number };

/** The round whose CPU per request is the median (the upper one of two middles, and both parts shown are its own). */
function medianCpuRound(s: Measured[]): Measured {
  const sorted = [...s].sort((a, b) => a.cpuUsPerReq - b.cpuUsPerReq);
  return sorted[sorted.length >> 1]!;
}

/**
 * What the HTTP/1.1 per-core goal leaves to tsmesh's own code: the byte pipe is the runtime's
 * event loop and sockets with no HTTP work, so tsmesh's CPU above it is the proxy's, and 0.8x
 * nginx's per-core rate is a CPU budget per request of which the pipe already takes its share.
 */
function printFloor(ngx: CpuSplit, t: CpuSplit, floor: CpuSplit): void {
  const budget = ngx.cpu / 0.8;
  console.log(
    `Floor: the byte pipe (the same runtime's sockets, no HTTP) costs ${num(floor.cpu, 1)} us per request (${num(floor.user, 1)} user + ${num(floor.sys, 1)} kernel), ` +
      `${(ngx.cpu / floor.cpu).toFixed(2)}x nginx per core. tsmesh spends ${num(t.cpu - floor.cpu, 1)} us above it ` +
      `(${num(t.user - floor.user, 1)} user, ${num(t.sys - floor.sys, 1)} kernel). 0.8x nginx per core is ${num(budget, 1)} us per request in all: ` +
      (budget > floor.cpu ? `${num(budget - floor.cpu, 1)} us for all the HTTP work above the pipe.` : 'less than the pipe alone costs.'),
  );
}

/**
 * Open loop at 1,000 req/s through each proxy alone (HTTP/1.1): vCPU = CPU seconds / wall seconds,
 * scaled to 1,000 req/s of what was actually sent; RSS now and the peak seen over the whole run.
 */
async function fixedRatePerProxy(paths: BenchPath[], rss: RssPeaks, goals: GoalInputs): Promise<void> {
  const rate = 1000;
  const rows: string[][] = [];
  for (const p of paths) {
    if (p.procs.length !== 1 || p.port.h1 === undefined) continue;
    const pid = p.procs[0].proc.pid!;
    const c0 = cpuSeconds(pid);
    const w0 = performance.now();
    const r = await fixedRate(`http://127.0.0.1:${p.port.h1}/`, rate, RATE_SECONDS);
    const wall = (performance.now() - w0) / 1000;
    const cpu = cpuSeconds(pid) - c0;
    const vcpuPer1k = (cpu / wall) * (1000 / (r.sent / wall));
    rss.sample();
    const now = rssMB(pid);
    rows.push([p.label, num(vcpuPer1k, 3), num(now), num(rss.of(p.procs[0])), num(r.p50ms, 3), num(r.p99ms, 3), String(r.errors)]);
    if (p.key === 'floor') goals.floor = { ...goals.floor, rssMB: rss.of(p.procs[0]) };
    if (p.key === 'tsmesh1') {
      goals.vcpuPer1k = vcpuPer1k;
      goals.rss = { mb: rss.of(p.procs[0]), what: 'peak under load, static bootstrap' };
    }
  }
  console.log(`\nAt a fixed ${rate} req/s (open loop, HTTP/1.1, ${RATE_SECONDS} s per proxy); RSS of the process (tree), peak = highest sampled during this whole bench`);
  console.log(table(['proxy', 'vCPU per 1k req/s', 'RSS MB now', 'RSS MB peak', 'p50 ms', 'p99 ms', 'errors'], rows));
}

/**
 * The memory goal's own condition: a sidecar serving Bookinfo's config (from the control plane
 * over xDS) under load. Closed loop (wrk) then 1,000 req/s open loop through its inbound listener.
 */
async function bookinfoMemory(dir: string, nginx: string, goals: GoalInputs): Promise<void> {
  const procs: Started[] = [];
  try {
    const b = await startBookinfoSidecar(dir, nginx, procs);
    const pid = b.sidecar.proc.pid!;
    const idle = rssMB(pid);
    const idleSplit = rssSplitMB(pid);
    if (WARMUP > 0) await wrk(b.url, { seconds: WARMUP, connections: CONNS });
    const { result: w, peakMB: peakW } = await withPeakRss(pid, () => wrk(b.url, { seconds: SECONDS, connections: CONNS }));
    const c0 = cpuSeconds(pid);
    const w0 = performance.now();
    const { result: f, peakMB: peakF } = await withPeakRss(pid, () => fixedRate(b.url, 1000, RATE_SECONDS));
    const wall = (performance.now() - w0) / 1000;
    const vcpu = ((cpuSeconds(pid) - c0) / wall) * (1000 / (f.sent / wall));
    const peak = Math.max(peakW, peakF);
    const loaded = rssSplitMB(pid);
    console.log(`\nBookinfo sidecar (productpage-v1, xDS from the control plane serving samples/bookinfo/config; load into its inbound listener on :9080)`);
    console.log(
      `  RSS: ${idle.toFixed(0)} MB synced and idle, peak ${peak.toFixed(0)} MB under load (wrk -c${CONNS} ${w.rps.toFixed(0)} req/s, errors ${w.errors}; then 1,000 req/s p99 ${f.p99ms.toFixed(3)} ms, errors ${f.errors}, ${vcpu.toFixed(3)} vCPU per 1k req/s)`,
    );
    const split = (x: { anon: number; file: number }) => `${x.anon.toFixed(0)} MB its own + ${x.file.toFixed(0)} MB mapped from files`;
    console.log(`  of which: idle ${split(idleSplit)}; after the load ${split(loaded)} (the runtime's binary and libraries, shared by every process that maps them)`);
    goals.rss = { mb: peak, what: 'Bookinfo sidecar, peak under load' };
  } catch (e) {
    console.log(`\nBookinfo sidecar memory not measured (${(e as Error).message.split('\n')[0]}): the RSS goal uses the static-bootstrap proxy's peak instead`);
  } finally {
    for (const p of procs.reverse()) await p.stop().catch(() => undefined);
  }
}

type Added = { p50: number; p90: number; p99: number };
type Spread = { median: number; min: number; max: number };

/**
 * What two tsmesh hops add over direct at 1,000 req/s, over BENCH_HOP_RUNS runs: median and
 * spread; and what two nginx hops and two byte pipes add in the same runs (what this machine
 * gives nginx, and the runtime's floor). Each run measures direct, then the pairs in an order
 * that rotates from run to run, so no pair is always the furthest from its baseline.
 */
async function twoHopsAdded(paths: BenchPath[], goals: GoalInputs): Promise<void> {
  const direct = paths.find((p) => p.key === 'direct')!;
  const hops = paths.filter((p) => p.key === 'tsmesh2' || p.key === 'nginx2' || p.key === 'floor2');
  const rate = 1000;
  const added = new Map<PathKey, Added[]>(hops.map((p) => [p.key, []]));
  let errors = 0;
  let lag = 0;
  console.log(`\nTwo hops vs direct at a fixed ${rate} req/s (open loop, ${RATE_SECONDS} s each, ${HOP_RUNS} runs: direct, then ${hops.map((p) => p.label).join(' / ')} in rotating order)`);
  for (let i = 0; i < HOP_RUNS; i++) {
    const a = await fixedRate(`http://127.0.0.1:${direct.port.h1}/`, rate, RATE_SECONDS);
    errors += a.errors;
    let line = `  run ${i + 1}: direct p50 ${a.p50ms.toFixed(3)} p90 ${a.p90ms.toFixed(3)} p99 ${a.p99ms.toFixed(3)} ms`;
    let runLag = a.maxSendLagMs;
    for (const p of hops.map((_, k) => hops[(k + i) % hops.length]!)) {
      const d = await fixedRate(`http://127.0.0.1:${p.port.h1}/`, rate, RATE_SECONDS);
      errors += d.errors;
      runLag = Math.max(runLag, d.maxSendLagMs);
      added.get(p.key)!.push({ p50: d.p50ms - a.p50ms, p90: d.p90ms - a.p90ms, p99: d.p99ms - a.p99ms });
      line += `; ${p.label} p50 ${d.p50ms.toFixed(3)} p90 ${d.p90ms.toFixed(3)} p99 ${d.p99ms.toFixed(3)} ms (added p99 +${(d.p99ms - a.p99ms).toFixed(3)})`;
    }
    lag = Math.max(lag, runLag);
    console.log(`${line}; probe lag max ${runLag.toFixed(1)} ms${runLag > 5 ? ' (the probe itself was starved: this run is noise)' : ''}`);
  }
  const stat = (key: PathKey, k: keyof Added): Spread => {
    const v = added.get(key)!.map((x) => x[k]);
    return { median: median(v), min: Math.min(...v), max: Math.max(...v) };
  };
  const f = (s: Spread) => `+${s.median.toFixed(3)} ms [${s.min.toFixed(3)}..${s.max.toFixed(3)}]`;
  const summary = (key: PathKey) => `p50 ${f(stat(key, 'p50'))}, p90 ${f(stat(key, 'p90'))}, p99 ${f(stat(key, 'p99'))}`;
  console.log(`  added by two hops, median [min..max] of ${HOP_RUNS}: ${summary('tsmesh2')} (errors ${errors}; probe lag max ${lag.toFixed(1)} ms; Istio 1.20 two Envoys: +0.228 p90, +0.298 p99)`);
  if (added.has('nginx2')) {
    console.log(`  added by two nginx hops (the same path through nginx, on this machine): ${summary('nginx2')}`);
    goals.nginxHopP99AddedMs = stat('nginx2', 'p99').median;
  }
  if (added.has('floor2')) {
    console.log(`  added by two byte pipes (the runtime's floor, no HTTP): ${summary('floor2')}`);
    goals.floor = { ...goals.floor, hopP99AddedMs: stat('floor2', 'p99').median };
  }
  goals.hopP99AddedMs = { ...stat('tsmesh2', 'p99'), runs: HOP_RUNS };
}

/**
 * Issue 10's cost: one hop with a JWT check and a 20-rule ALLOW policy (lib/authz_cost.ts) beside
 * the same hop without them; wrk sends the token on both (the plain hop forwards it untouched).
 */
async function authorizationCost(dir: string, procs: Started[], upstream: number): Promise<void> {
  const { filters, token } = await authzBenchFilters();
  await pairedCost(dir, procs, upstream, {
    key: 'authz',
    title: `Authorization cost (issue 10: wrk -c${CONNS} with a valid ES256 token`,
    off: 'tsmesh, 1 hop, no policy',
    on: 'tsmesh, 1 hop, JWT + 20-rule ALLOW',
    verdict: 'with authorization',
    extra: { httpFilters: filters },
    headers: { authorization: `Bearer ${token}` },
  });
}

/**
 * Issue 12's cost: one hop with Istio's default telemetry as the pilot builds it (peer metadata and
 * istio.stats filters, tracing at 1% to a Zipkin collector, an access log to a file;
 * lib/telemetry_cost.ts) beside the same hop with none.
 */
async function telemetryCost(dir: string, procs: Started[], upstream: number): Promise<void> {
  const collector = new ZipkinCollector();
  const port = await collector.listen(0, '127.0.0.1');
  try {
    const extra = telemetryBenchExtra(dir, port, 1);
    await pairedCost(dir, procs, upstream, {
      key: 'telemetry',
      title: `Telemetry cost (issue 12: wrk -c${CONNS}; metrics, 1% tracing, access log to a file`,
      off: 'tsmesh, 1 hop, telemetry off',
      on: 'tsmesh, 1 hop, telemetry on',
      verdict: 'with telemetry',
      extra,
    });
    const lines = existsSync(extra.accessLog) ? readFileSync(extra.accessLog, 'utf8').split('\n').length - 1 : 0;
    console.log(`  telemetry side effects: ${lines.toLocaleString()} access-log lines, ${collector.spansAccepted.toLocaleString()} spans received by the collector`);
  } finally {
    await collector.close();
  }
}

interface PairedCost {
  key: string;
  title: string;
  off: string;
  on: string;
  verdict: string;
  extra: HcmExtra;
  headers?: Record<string, string>;
}

/** One hop with `extra` beside one without, HTTP/1.1, alternating for ROUNDS rounds; prints medians and ratios. */
async function pairedCost(dir: string, procs: Started[], upstream: number, c: PairedCost): Promise<void> {
  const [pOff, pOn] = [await freePort(), await freePort()];
  // Each pushed as soon as it runs, so a failing second start still stops the first.
  const off = await tsmeshProxy(dir, `${c.key}-off`, pOff, upstream);
  procs.push(off);
  const on = await tsmeshProxy(dir, `${c.key}-on`, pOn, upstream, undefined, undefined, c.extra);
  procs.push(on);
  const headers = c.headers;
  const check = await wrk(`http://127.0.0.1:${pOn}/`, { seconds: 1, connections: 1, headers });
  if (check.errors > 0 || !(check.requests > 0)) throw new Error(`${c.key} cost: requests failed through the hop (${check.errors} errors of ${check.requests})`);
  const runs: Record<'off' | 'on', Measured[]> = { off: [], on: [] };
  for (let round = 0; round < ROUNDS; round++) {
    for (const [key, px, port] of [['off', off, pOff], ['on', on, pOn]] as const) {
      runs[key].push(await withCpu([px], () => wrk(`http://127.0.0.1:${port}/`, { seconds: SECONDS, connections: CONNS, headers })));
    }
  }
  const med = (k: 'off' | 'on', f: (m: Measured) => number) => median(runs[k].map(f));
  const rows = (['off', 'on'] as const).map((k) => [
    c[k],
    num(med(k, (m) => m.rps), 0),
    num(med(k, (m) => m.p99ms), 2),
    num(med(k, (m) => m.cpuUsPerReq), 1),
    String(runs[k].reduce((a, m) => a + m.errors, 0)),
  ]);
  console.log(`\n${c.title}, medians of ${ROUNDS} round(s) of ${SECONDS} s)`);
  console.log(table(['path', 'req/s', 'p99 ms', 'CPU us/req', 'errors'], rows));
  const cpuOff = med('off', (m) => m.cpuUsPerReq);
  const cpuOn = med('on', (m) => m.cpuUsPerReq);
  console.log(
    `  ${c.verdict}: req/s ${(med('on', (m) => m.rps) / med('off', (m) => m.rps)).toFixed(2)}x, p99 ${(med('on', (m) => m.p99ms) / med('off', (m) => m.p99ms)).toFixed(2)}x, CPU per request ${(cpuOn / cpuOff).toFixed(2)}x (+${(cpuOn - cpuOff).toFixed(1)} us)`,
  );
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
  const px = await startTsmeshProxy('tsmesh tcp', ['--bootstrap', tcpBootstrap(dir, 'tcp', tp, sinkPort, admin)], { port: tp });
  procs.push(px);
  const MB = Number(process.env.BENCH_TCP_MB ?? 512);
  const direct = await push(sinkPort, MB);
  const c0 = cpuSeconds(px.proc.pid!);
  const proxied = await push(tp, MB);
  const cpu = cpuSeconds(px.proc.pid!) - c0;
  console.log(
    `\nTCP passthrough ${MB} MB: direct ${direct.toFixed(0)} MB/s, through tcp_proxy ${proxied.toFixed(0)} MB/s (${(proxied / direct).toFixed(2)}x); proxy cpu ${cpu.toFixed(2)} s = ${((cpu / MB) * 1000).toFixed(1)} ms per MB`,
  );
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
