/**
 * `tsmesh sidecar --config-dir <dir>`: the VM's sidecar (Istio's istio-start.sh + pilot-agent on a
 * VM). Reads the files `tsmesh vm bootstrap` wrote, writes the Envoy bootstrap the agent would,
 * and runs `tsmesh proxy --bootstrap` with the agent (certificates from the CA with istio-token,
 * the WorkloadGroup's readiness probe reported over xDS). Started as root, it first applies the
 * capture rules (`tsmesh init`'s: 15001/15006, uid/gid 1337 excluded) and then runs the proxy as
 * uid/gid 1337, so the proxy's own connections are not captured again.
 */
import { chmodSync, chownSync, copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, networkInterfaces, tmpdir } from 'node:os';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { readVmSidecarConfig } from '../agent/vm/sidecar_config.ts';
import { tsmeshCommand } from '../common/self_command.ts';

const HELP = `Usage: tsmesh sidecar --config-dir <dir> [options]

Runs the sidecar of a VM from the files 'tsmesh vm bootstrap' wrote (cluster.env, mesh.yaml,
root-cert.pem, istio-token, hosts): agent + proxy, registered with the control plane through
the WorkloadGroup named in cluster.env (ISTIO_META_AUTO_REGISTER_GROUP), with the group's
readiness probe run by the agent and its result reported to the control plane.

As root, the VM's traffic is captured first (tsmesh init's iptables rules: outbound to 15001,
inbound to 15006, ISTIO_INBOUND_PORTS / ISTIO_LOCAL_EXCLUDE_PORTS / ISTIO_SERVICE_CIDR from
cluster.env) and the proxy then runs as uid/gid 1337, whose traffic the rules let through.
Not as root: no capture (run it as uid 1337 after 'tsmesh init' as root, as Istio's VM docs do).
When the proxy exits, the capture it installed is removed again. SSH (22) is never captured as
inbound (ISTIO_LOCAL_EXCLUDE_PORTS). With ISTIO_META_DNS_CAPTURE=true in cluster.env, DNS to the
resolv.conf servers goes to the agent's DNS proxy (127.0.0.1:15053).

Options:
  --config-dir <dir>        the files from tsmesh vm bootstrap (required)
  --ip <ip>                 this VM's address (default: its first non-loopback IPv4)
  --pod-name <name>         instance name in the node id (default: the host name)
  --capture | --no-capture  apply the capture rules (default: when running as root)
  --interception <mode>     REDIRECT (default; Istio's VMs) or NONE (no capture: listeners on
                            real addresses, apps use the proxy explicitly)
  --proxy-uid <uid>         the uid (and gid) the proxy runs as after capture (default 1337)
  --admin-port <port>       admin API on 127.0.0.1 (default 15000)
  --drain-time-s <s>        drain time on shutdown (default 5)
  -l, --log-level <level>   proxy log level (default info)
  -h, --help                show this help`;

export async function sidecarCommand(argv: string[]): Promise<number> {
  let v: Record<string, string | boolean | undefined>;
  try {
    v = parseArgs({
      args: argv,
      options: {
        'config-dir': { type: 'string' },
        ip: { type: 'string' },
        'pod-name': { type: 'string' },
        capture: { type: 'boolean' },
        'no-capture': { type: 'boolean' },
        interception: { type: 'string' },
        'proxy-uid': { type: 'string' },
        'admin-port': { type: 'string' },
        'drain-time-s': { type: 'string' },
        'log-level': { type: 'string', short: 'l' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }).values;
  } catch (e) {
    console.error(`tsmesh sidecar: ${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (v.help) {
    console.log(HELP);
    return 0;
  }
  const fail = (msg: string, code = 2) => {
    console.error(`tsmesh sidecar: ${msg}`);
    return code;
  };
  const configDir = v['config-dir'];
  if (typeof configDir !== 'string') return fail(`--config-dir is required\n\n${HELP}`);
  const interception = String(v.interception ?? 'REDIRECT').toUpperCase();
  if (interception !== 'REDIRECT' && interception !== 'NONE') return fail(`--interception: expected REDIRECT or NONE, got ${v.interception}`);
  const ip = typeof v.ip === 'string' ? v.ip : firstAddress();
  if (!ip) return fail('no non-loopback IPv4 address on this machine; pass --ip');
  const adminPort = Number(v['admin-port'] ?? 15000);
  if (!Number.isInteger(adminPort) || adminPort < 0 || adminPort > 65535) return fail(`--admin-port: expected a port, got ${v['admin-port']}`);
  const uid = Number(v['proxy-uid'] ?? 1337);
  if (!Number.isInteger(uid) || uid < 0) return fail(`--proxy-uid: expected a uid, got ${v['proxy-uid']}`);
  const root = process.getuid?.() === 0;
  if (v.capture && v['no-capture']) return fail('--capture and --no-capture contradict each other');
  const capture = v.capture === true || (root && v['no-capture'] !== true && interception === 'REDIRECT');
  if (capture && !root) return fail('--capture needs root (the iptables rules are written into this network namespace); run it as root, or capture with tsmesh init first', 1);
  if (capture && interception === 'NONE') return fail('--capture with --interception NONE: NONE mode has no 15001/15006 listeners to capture into');

  // Runtime files (the bootstrap, the agent's SDS socket, a copy of the token the proxy user can read).
  const runDir = mkdtempSync(join(tmpdir(), 'tsmesh-sidecar-'));
  const cleanup = () => rmSync(runDir, { recursive: true, force: true });
  let cfg: ReturnType<typeof readVmSidecarConfig>;
  try {
    cfg = readVmSidecarConfig({ configDir, ip, podName: typeof v['pod-name'] === 'string' ? v['pod-name'] : hostname(), adminPort, sdsSocket: join(runDir, 'sds.sock'), interception });
  } catch (e) {
    cleanup();
    return fail((e as Error).message, 1);
  }
  const bootstrapFile = join(runDir, 'envoy-rev.json');
  const tokenFile = join(runDir, 'istio-token');
  const rootCert = join(runDir, 'root-cert.pem');
  writeFileSync(bootstrapFile, JSON.stringify(cfg.bootstrap, null, 2));
  copyFileSync(cfg.tokenFile, tokenFile);
  chmodSync(tokenFile, 0o600);
  copyFileSync(cfg.rootCertFile, rootCert);
  const proxyArgs = [
    'proxy',
    '--bootstrap', bootstrapFile,
    '--token-file', tokenFile,
    '--ca-root-cert', rootCert,
    '--ca-address', cfg.caAddress,
    '--trust-domain', cfg.trustDomain,
    ...(v['drain-time-s'] !== undefined ? ['--drain-time-s', String(v['drain-time-s'])] : []),
    ...(v['log-level'] !== undefined ? ['--log-level', String(v['log-level'])] : []),
  ];
  if (!root) {
    // Already the proxy's user (or a test without capture): the proxy runs in this process.
    const me = process.getuid?.();
    if (me !== undefined && me !== uid && interception === 'REDIRECT') {
      // tsmesh init excludes one uid; a proxy running as another has its own upstream connections captured back into 15001.
      const captured = await outboundCaptured();
      if (captured !== false) {
        console.error(
          `tsmesh sidecar: warning: the proxy runs as uid ${me}, not ${uid} (--proxy-uid)` +
            (captured ? ': this namespace has outbound capture (ISTIO_OUTPUT), so its own connections loop back into 15001; run it as uid ' + uid : `; if 'tsmesh init' captured this namespace with --proxy-uid ${uid}, its own connections loop back into 15001`),
        );
      }
    }
    const { proxyCommand } = await import('./proxy.ts');
    try {
      return await proxyCommand(proxyArgs.slice(1));
    } finally {
      cleanup();
    }
  }
  // Removes the capture once the proxy is gone: rules left behind would send all outbound TCP to a
  // closed 15001 and every captured inbound port (SSH too, were it not excluded) to a closed 15006.
  let uncapture = async () => {};
  if (capture) {
    try {
      uncapture = await applyVmCapture(cfg.capture, uid);
    } catch (e) {
      cleanup();
      return fail(`capture: ${(e as Error).message}`, 1);
    }
    console.log(`tsmesh sidecar: traffic captured (outbound -> 15001, inbound ${cfg.capture.inboundPorts} -> 15006 except ${cfg.capture.localExcludePorts}${cfg.capture.dnsCapture ? ', DNS -> 15053' : ''}; uid/gid ${uid} excluded)`);
  }
  // Root: the proxy runs as `uid` (the capture rules let that uid's traffic out uncaptured).
  for (const p of [runDir, bootstrapFile, tokenFile, rootCert]) chownSync(p, uid, uid);
  chmodSync(rootCert, 0o644);
  const cmd = tsmeshCommand(proxyArgs);
  const child = spawn(cmd.command, cmd.args, { stdio: 'inherit', uid, gid: uid, env: { ...process.env, HOME: runDir, TMPDIR: runDir } });
  const forward = (sig: NodeJS.Signals) => () => child.kill(sig);
  process.on('SIGTERM', forward('SIGTERM'));
  process.on('SIGINT', forward('SIGINT'));
  const code = await new Promise<number>((resolve) => {
    child.once('error', (e) => {
      console.error(`tsmesh sidecar: cannot start the proxy as uid ${uid}: ${e.message}`);
      resolve(1);
    });
    child.once('exit', (c, sig) => resolve(c ?? (sig ? 1 : 0)));
  });
  cleanup();
  if (capture) {
    try {
      await uncapture();
      console.log('tsmesh sidecar: capture removed');
    } catch (e) {
      console.error(`tsmesh sidecar: could not remove the capture (run 'tsmesh init --cleanup' as root): ${(e as Error).message}`);
      return code || 1;
    }
  }
  return code;
}

/** The VM's address: its first non-internal IPv4 (Istio's agent takes the host's addresses). */
function firstAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  return undefined;
}

type VmCapture = { inboundPorts: string; localExcludePorts: string; serviceCidr: string; dnsCapture: boolean };

/**
 * tsmesh init's rules for this VM (src/agent/capture's API, loaded only when capturing). With
 * ISTIO_META_DNS_CAPTURE, DNS to the resolv.conf servers goes to the agent's 15053 too.
 * Returns how to remove them again.
 */
async function applyVmCapture(c: VmCapture, uid: number): Promise<() => Promise<void>> {
  const { applyCapture, cleanupCapture, captureOptions, validateCaptureOptions } = await import('../agent/capture/capture.ts');
  const { readResolvConf } = await import('../agent/dns/resolv_conf.ts');
  const servers = c.dnsCapture ? readResolvConf().nameservers : [];
  const o = captureOptions({
    proxyUID: String(uid),
    proxyGID: String(uid),
    inboundPortsInclude: c.inboundPorts,
    inboundPortsExclude: c.localExcludePorts,
    outboundIPRangesInclude: c.serviceCidr,
    redirectDNS: c.dnsCapture,
    dnsServersV4: servers.filter((a) => isIP(a) === 4),
    dnsServersV6: servers.filter((a) => isIP(a) === 6),
  });
  const errors = validateCaptureOptions(o);
  if (errors.length) throw new Error(errors.join('; '));
  await applyCapture(o);
  return () => cleanupCapture(o);
}

/**
 * Whether this namespace has tsmesh init's outbound capture (ISTIO_OUTPUT), or undefined when it
 * cannot be read (iptables-save needs CAP_NET_ADMIN).
 */
async function outboundCaptured(): Promise<boolean | undefined> {
  const { run } = await import('../agent/capture/apply.ts');
  const r = await run('iptables-save', ['-t', 'nat']).catch(() => undefined);
  if (!r || r.code !== 0) return undefined;
  return /^:ISTIO_OUTPUT\b/m.test(r.stdout);
}
