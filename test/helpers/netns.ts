/**
 * Hosts for capture and multi-host tests: each host is a Linux network namespace the test makes,
 * with loopback up and one veth per network it is on, plugged into that network's bridge. The
 * bridges live in a namespace of their own, so nothing the tests do touches the machine's own
 * interfaces, routes or iptables. Everything is removed when the test ends (and on exit).
 *
 *   const lab = await netLab(t);
 *   const net1 = await lab.network('net1', '10.77.1.0/24');
 *   const a = await lab.host('a', [{ network: net1, ip: '10.77.1.2' }]);
 *   await a.run('ip', ['addr']);
 *   const p = a.spawn(process.execPath, ['server.js'], { uid: 1337 });
 *
 * Needs root and iproute2 (`ip`); NO_NETNS says why not when they are missing.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, linkSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

const IP = ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip'].find((p) => existsSync(p));

/** A reason to skip when namespaces cannot be made here, else false. */
export const NO_NETNS: string | false =
  process.platform !== 'linux'
    ? 'network namespaces need Linux'
    : process.getuid?.() !== 0
      ? 'network namespaces need root (run the tests as root)'
      : !IP
        ? 'iproute2 is missing: apt-get install -y iproute2'
        : false;

export interface Network {
  readonly name: string;
  /** e.g. "10.77.1.0/24" */
  readonly cidr: string;
  readonly prefix: number;
  /** The bridge's device name, inside the lab's switch namespace. */
  readonly bridge: string;
}

export interface Attachment {
  network: Network;
  ip: string;
  /** Default route through this address (a router host on the same network). */
  gateway?: string;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Host {
  readonly name: string;
  /** The namespace's name, for `ip netns exec`. */
  readonly netns: string;
  /** This host's address on each network it is on, by network name. */
  readonly ips: Record<string, string>;
  /**
   * Writes /etc/netns/<netns>/<file>: `ip netns exec` bind-mounts it over /etc/<file> for what
   * runs in this host (hosts, resolv.conf). Removed when the lab closes.
   */
  etcFile(file: string, content: string): void;
  /** Runs a command in the namespace to its end (30 s at most); throws with its output when it fails, unless `allowFail`. */
  run(cmd: string, args: string[], o?: { input?: string; allowFail?: boolean; timeoutMs?: number; env?: NodeJS.ProcessEnv }): Promise<RunResult>;
  /**
   * Starts a long-running process in the namespace; it is killed when the test ends. `user` runs
   * it as that uid/gid (setpriv, after entering the namespace: Istio's proxy runs as 1337).
   */
  spawn(cmd: string, args: string[], o?: SpawnOptions & { user?: { uid: number; gid: number } }): ChildProcess;
}

export interface NetLab {
  network(name: string, cidr: string): Promise<Network>;
  host(name: string, attachments: Attachment[]): Promise<Host>;
  /** Removes every namespace and process now (also done when the test ends). */
  close(): Promise<void>;
}

type After = { after(fn: () => Promise<void> | void): void };

function ipSync(args: string[]): void {
  const r = spawnSync(IP!, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr || r.stdout || `exit ${r.status}`}`);
}

/** Every lab namespace still present: removed if the test process exits without closing. */
const liveNs = new Set<string>();
let exitHook = false;

export async function netLab(t: After): Promise<NetLab> {
  if (NO_NETNS) throw new Error(NO_NETNS);
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => {
      for (const ns of liveNs) {
        spawnSync(IP!, ['netns', 'del', ns]);
        rmSync(`/etc/netns/${ns}`, { recursive: true, force: true });
      }
    });
  }
  // Short and unique: device names are at most 15 characters.
  const id = randomBytes(3).toString('hex');
  const sw = `tsm${id}-sw`;
  ipSync(['netns', 'add', sw]);
  liveNs.add(sw);
  ipSync(['-n', sw, 'link', 'set', 'lo', 'up']);
  const namespaces: string[] = [sw];
  const children = new Set<ChildProcess>();
  let nets = 0;
  let links = 0;
  let closed = false;

  const close = async () => {
    if (closed) return;
    closed = true;
    await Promise.all(
      [...children].map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            const k = setTimeout(() => c.kill('SIGKILL'), 5000);
            c.once('exit', () => {
              clearTimeout(k);
              resolve();
            });
            c.kill('SIGTERM');
          }),
      ),
    );
    for (const ns of namespaces.reverse()) {
      spawnSync(IP!, ['netns', 'del', ns]);
      rmSync(`/etc/netns/${ns}`, { recursive: true, force: true });
      liveNs.delete(ns);
    }
  };
  t.after(close);

  const lab: NetLab = {
    async network(name, cidr) {
      const [, bits] = cidr.split('/');
      const prefix = Number(bits);
      if (!Number.isInteger(prefix)) throw new Error(`network ${name}: ${cidr} is not a CIDR`);
      const bridge = `br${nets++}`;
      ipSync(['-n', sw, 'link', 'add', bridge, 'type', 'bridge']);
      ipSync(['-n', sw, 'link', 'set', bridge, 'up']);
      return { name, cidr, prefix, bridge };
    },
    async host(name, attachments) {
      const netns = `tsm${id}-${name}`.slice(0, 40);
      ipSync(['netns', 'add', netns]);
      liveNs.add(netns);
      namespaces.push(netns);
      ipSync(['-n', netns, 'link', 'set', 'lo', 'up']);
      const ips: Record<string, string> = {};
      attachments.forEach((a, i) => {
        const outer = `v${id}${links++}`;
        const inner = `eth${i}`;
        // Made in the switch namespace, the inner end then moved into the host's.
        ipSync(['-n', sw, 'link', 'add', outer, 'type', 'veth', 'peer', 'name', inner]);
        ipSync(['-n', sw, 'link', 'set', inner, 'netns', netns]);
        ipSync(['-n', sw, 'link', 'set', outer, 'master', a.network.bridge]);
        ipSync(['-n', sw, 'link', 'set', outer, 'up']);
        ipSync(['-n', netns, 'addr', 'add', `${a.ip}/${a.network.prefix}`, 'dev', inner]);
        ipSync(['-n', netns, 'link', 'set', inner, 'up']);
        if (a.gateway) ipSync(['-n', netns, 'route', 'add', 'default', 'via', a.gateway]);
        ips[a.network.name] = a.ip;
      });
      const host: Host = {
        name,
        netns,
        ips,
        etcFile(file, content) {
          mkdirSync(`/etc/netns/${netns}`, { recursive: true });
          writeFileSync(`/etc/netns/${netns}/${file}`, content);
        },
        run(cmd, args, o = {}) {
          return new Promise((resolve, reject) => {
            const c = spawn(IP!, ['netns', 'exec', netns, cmd, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...o.env } });
            let stdout = '';
            let stderr = '';
            c.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
            c.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
            const k = setTimeout(() => c.kill('SIGKILL'), o.timeoutMs ?? 30_000);
            c.on('error', (e) => {
              clearTimeout(k);
              reject(e);
            });
            c.on('close', (code, signal) => {
              clearTimeout(k);
              const r = { code: code ?? (signal ? 128 : 1), stdout, stderr };
              if (r.code !== 0 && !o.allowFail) reject(new Error(`[${name}] ${cmd} ${args.join(' ')} exited ${signal ?? code}:\n${stderr}${stdout}`));
              else resolve(r);
            });
            // A command that exits without reading its input must not fail the write.
            c.stdin!.on('error', () => undefined);
            c.stdin!.end(o.input ?? '');
          });
        },
        spawn(cmd, args, o = {}) {
          const { user, ...rest } = o;
          const as = user ? ['setpriv', `--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups'] : [];
          const c = spawn(IP!, ['netns', 'exec', netns, ...as, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...rest });
          children.add(c);
          c.once('exit', () => children.delete(c));
          return c;
        },
      };
      return host;
    },
    close,
  };
  return lab;
}

/** Turns on IPv4 forwarding in a host, so that it routes between the networks it is on. */
export async function makeRouter(h: Host): Promise<void> {
  await h.run('sh', ['-c', 'echo 1 > /proc/sys/net/ipv4/ip_forward']);
}

/**
 * A path to this Node that a non-root uid (the proxy's 1337) can execute. CI runs a Node unpacked
 * under /root (mode 0700), which uid 1337 cannot reach: then a hard link (or copy) of the binary
 * in a world-readable temp directory, made once per binary.
 */
export function nodeForAnyUser(): string {
  const exe = process.execPath;
  const reachable = (p: string): boolean => {
    for (let d = dirname(p); ; d = dirname(d)) {
      if ((statSync(d).mode & 0o001) === 0) return false;
      if (d === dirname(d)) return (statSync(p).mode & 0o001) !== 0;
    }
  };
  if (reachable(exe)) return exe;
  const st = statSync(exe);
  const dir = join('/tmp', `tsmesh-node-${st.ino}-${Math.round(st.mtimeMs)}`);
  const out = join(dir, 'node');
  if (existsSync(out)) return out;
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  chmodSync(dir, 0o755);
  const tmp = `${out}.${process.pid}`;
  try {
    linkSync(exe, tmp);
  } catch {
    copyFileSync(exe, tmp);
    chmodSync(tmp, 0o755);
  }
  // Renamed into place: test files running at the same time never see a half-made binary.
  renameSync(tmp, out);
  return out;
}
