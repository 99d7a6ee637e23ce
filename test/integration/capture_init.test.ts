/**
 * `tsmesh init` in a real network namespace (issue 14, acceptance 7): the ISTIO_* rules appear,
 * an app's outbound TCP lands on 15001 while the proxy's own (uid 1337) does not, inbound TCP from
 * another host lands on 15006, `--dry-run` changes nothing, and `tsmesh init --cleanup` leaves
 * iptables-save / ip6tables-save / nft list ruleset exactly as they were, foreign rules included.
 * Both back ends: iptables (iptables-restore) and native nftables.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { netLab, NO_NETNS, type Host } from '../helpers/netns.ts';
import { REPO_ROOT, tsmeshCommand } from '../../src/common/self_command.ts';

const MISSING = ['iptables-save', 'ip6tables-save', 'iptables-restore', 'nft', 'setpriv'].find((b) => spawnSync('sh', ['-c', `command -v ${b}`]).status !== 0);
const SKIP = NO_NETNS || (MISSING ? `${MISSING} is not installed` : false);

/** Istio's injected invocation: capture all outbound and inbound, the sidecar's ports excluded. */
const INIT = ['init', '-p', '15001', '-z', '15006', '-u', '1337', '-g', '1337', '-m', 'REDIRECT', '-i', '*', '-x', '', '-b', '*', '-d', '15090,15021,15020'];

async function tsmesh(h: Host, args: string[]): Promise<string> {
  const c = tsmeshCommand(args);
  const r = await h.run(c.command, c.args, { timeoutMs: 60_000 });
  return r.stdout;
}

/** The namespace's firewall state, minus what changes by itself (timestamps, counters). */
async function tables(h: Host): Promise<string> {
  const norm = (s: string) =>
    s
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      .map((l) => l.replace(/\[\d+:\d+\]$/, ''))
      .join('\n');
  const v4 = await h.run('iptables-save', []);
  const v6 = await h.run('ip6tables-save', []);
  const nft = await h.run('nft', ['list', 'ruleset']);
  return `${norm(v4.stdout)}\n--- ip6\n${norm(v6.stdout)}\n--- nft\n${nft.stdout}`;
}

/** Rules someone else put there: cleanup must leave them alone (and they make the tables exist). */
async function foreignRules(h: Host): Promise<void> {
  for (const ipt of ['iptables', 'ip6tables']) {
    for (const table of ['nat', 'mangle', 'raw', 'filter']) {
      await h.run(ipt, ['-w', '-t', table, '-A', 'OUTPUT', '-p', 'udp', '--dport', '9', '-j', 'ACCEPT']);
      await h.run(ipt, ['-w', '-t', table, '-A', 'PREROUTING', '-p', 'udp', '--dport', '9', '-j', 'ACCEPT'], { allowFail: table === 'filter' });
    }
  }
  await h.run('nft', ['-f', '-'], { input: 'table inet someone-else {\n chain out { type filter hook output priority 10; policy accept; udp dport 9 accept; }\n}\n' });
}

/** Whole lines of a child's stdout (a line may arrive in several chunks). */
function collectLines(proc: ChildProcess, lines: string[], onLine: () => void): void {
  let partial = '';
  proc.stdout!.on('data', (d: Buffer) => {
    const parts = (partial + d.toString()).split('\n');
    partial = parts.pop()!;
    lines.push(...parts.filter(Boolean));
    onLine();
  });
}

/** Waits (10 s at most) for a listener to report a line. */
async function waitForLine(lines: string[], pred: (l: string) => boolean): Promise<boolean> {
  // 10 s: a loaded machine can hold a child's stdout chunk back for seconds; a passing test never waits.
  for (const end = Date.now() + 10_000; Date.now() < end; await new Promise((r) => setTimeout(r, 20))) if (lines.some(pred)) return true;
  return lines.some(pred);
}

/** A TCP listener on the capture ports that reports each connection's local port. */
function listener(h: Host): { proc: ChildProcess; lines: string[]; ready: Promise<void> } {
  const script = `
    const net = require('node:net');
    let up = 0;
    for (const port of [15001, 15006]) {
      net.createServer((s) => { console.log('conn ' + port + ' ' + s.remoteAddress); s.end('hi'); })
        .listen(port, '0.0.0.0', () => { if (++up === 2) console.log('ready'); });
    }`;
  const proc = h.spawn(process.execPath, ['-e', script]);
  const lines: string[] = [];
  const ready = new Promise<void>((resolve, reject) => {
    collectLines(proc, lines, () => lines.includes('ready') && resolve());
    proc.once('exit', (c) => reject(new Error(`listener exited ${c}`)));
    setTimeout(() => reject(new Error('listener not ready in 10 s')), 10_000).unref();
  });
  return { proc, lines, ready };
}

/** Connects to addr:port from the host (optionally as another uid); 'connected' or 'failed'. */
async function dial(h: Host, addr: string, port: number, uid?: number): Promise<string> {
  const script = `
    const s = require('node:net').connect(${port}, '${addr}');
    const t = setTimeout(() => { console.log('failed'); process.exit(0); }, 1500);
    s.on('data', () => { console.log('connected'); clearTimeout(t); s.destroy(); });
    s.on('error', () => { console.log('failed'); clearTimeout(t); });`;
  const as = uid === undefined ? [] : ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups'];
  const cmd = [...as, process.execPath, '-e', script];
  const r = await h.run(cmd[0]!, cmd.slice(1), { timeoutMs: 10_000 });
  return r.stdout.trim();
}

for (const backend of ['iptables', 'nftables'] as const) {
  test(`tsmesh init (${backend}): capture works, the proxy's uid is not captured, --cleanup restores the tables`, { skip: SKIP, timeout: 180_000 }, async (t) => {
    const lab = await netLab(t);
    const net = await lab.network('n', '10.79.3.0/24');
    const app = await lab.host('app', [{ network: net, ip: '10.79.3.2' }]);
    const peer = await lab.host('peer', [{ network: net, ip: '10.79.3.3' }]);
    await foreignRules(app);
    const before = await tables(app);
    // Dual stack: the IPv6 rules (ip6tables / ip6 tables) and ::6 on lo come and go too.
    const flags = ['--ipv6', ...(backend === 'nftables' ? ['--native-nftables'] : [])];
    const lo6 = async () => (await app.run('ip', ['-6', 'addr', 'show', 'dev', 'lo'])).stdout;
    const lo6Before = await lo6();

    // Dry run: prints the rules, changes nothing.
    const dry = await tsmesh(app, [...INIT, ...flags, '--dry-run']);
    assert.match(dry, backend === 'nftables' ? /add rule ip istio-proxy-nat istio-output .*jump istio-redirect/ : /-A ISTIO_OUTPUT -j ISTIO_REDIRECT/);
    assert.equal(await tables(app), before, '--dry-run changed the tables');

    const l = listener(app);
    await l.ready;
    // Nothing is captured yet: 10.79.3.99 does not exist.
    assert.equal(await dial(app, '10.79.3.99', 80), 'failed');

    await tsmesh(app, [...INIT, ...flags]);
    const during = await tables(app);
    if (backend === 'iptables') {
      for (const c of ['ISTIO_INBOUND', 'ISTIO_REDIRECT', 'ISTIO_IN_REDIRECT', 'ISTIO_OUTPUT']) assert.match(during, new RegExp(`^:${c} `, 'm'));
      assert.match(during, /^-A OUTPUT -j ISTIO_OUTPUT$/m);
      assert.match(during, /^-A PREROUTING -p tcp -j ISTIO_INBOUND$/m);
    } else {
      assert.match(during, /table ip istio-proxy-nat/);
      assert.match(during, /chain istio-output \{/);
    }

    // The app's outbound connection to an address nobody has lands on the proxy's 15001.
    assert.equal(await dial(app, '10.79.3.99', 80), 'connected');
    assert.ok(await waitForLine(l.lines, (x) => x.startsWith('conn 15001 ')), `no connection on 15001: ${l.lines.join(' | ')}`);
    // The proxy's own (uid 1337) connection is not captured: no loop.
    const seen = l.lines.length;
    assert.equal(await dial(app, '10.79.3.99', 80, 1337), 'failed');
    assert.equal(l.lines.length, seen, 'uid 1337 was captured');
    // Inbound: another host's connection to the app's port lands on 15006, not the app.
    assert.equal(await dial(peer, '10.79.3.2', 9080), 'connected');
    assert.ok(await waitForLine(l.lines, (x) => x === 'conn 15006 10.79.3.3' || x === 'conn 15006 ::ffff:10.79.3.3'), `no inbound connection on 15006: ${l.lines.join(' | ')}`);

    // Running init again replaces, not duplicates.
    await tsmesh(app, [...INIT, ...flags]);
    assert.equal(await tables(app), during, 'a second init changed the rules');

    assert.match(await lo6(), /inet6 ::6\/128/);
    if (backend === 'iptables') assert.match((await app.run('ip6tables-save', [])).stdout, /^-A ISTIO_OUTPUT -s ::6\/128 -o lo -j RETURN$/m);
    else assert.match(during, /table ip6 istio-proxy-nat/);

    await tsmesh(app, [...INIT, ...flags, '--cleanup']);
    assert.equal(await tables(app), before, '--cleanup did not restore the tables');
    assert.equal(await lo6(), lo6Before, '--cleanup did not restore lo');
    assert.equal(await dial(app, '10.79.3.99', 80), 'failed', 'still captured after --cleanup');
  });
}

test('tsmesh init explains itself when not root', { skip: process.getuid?.() === 0 && spawnSync('sh', ['-c', 'command -v setpriv']).status !== 0 ? 'setpriv missing' : false }, async () => {
  const c = tsmeshCommand([...INIT]);
  const cmd = process.getuid?.() === 0 ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', c.command, ...c.args] : [c.command, ...c.args];
  const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8', timeout: 60_000, cwd: REPO_ROOT });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /needs root: run it as root in the workload's network namespace/);
});

/** A transparent (IP_TRANSPARENT) listener on 15006, as the proxy's is in TPROXY mode; python3 sets the option Node cannot. */
function transparentListener(h: Host): { lines: string[]; ready: Promise<void> } {
  const script = [
    'import socket, sys',
    's = socket.socket(socket.AF_INET, socket.SOCK_STREAM)',
    's.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)',
    's.setsockopt(socket.SOL_IP, 19, 1)  # IP_TRANSPARENT',
    "s.bind(('0.0.0.0', 15006)); s.listen(8)",
    "print('ready', flush=True)",
    'while True:',
    '    c, peer = s.accept()',
    "    print('conn', peer[0], '%s:%d' % c.getsockname(), flush=True)",
    "    c.sendall(b'hi'); c.close()",
  ].join('\n');
  const proc = h.spawn('python3', ['-c', script]);
  const lines: string[] = [];
  const ready = new Promise<void>((resolve, reject) => {
    collectLines(proc, lines, () => lines.includes('ready') && resolve());
    proc.once('exit', (c) => reject(new Error(`python listener exited ${c}`)));
    setTimeout(() => reject(new Error('python listener not ready in 10 s')), 10_000).unref();
  });
  return { lines, ready };
}

const NO_PYTHON = spawnSync('sh', ['-c', 'command -v python3']).status !== 0 ? 'python3 is not installed' : false;

for (const backend of ['iptables', 'nftables'] as const) {
  test(`tsmesh init -m TPROXY (${backend}): inbound lands on 15006 with source and destination preserved; --cleanup restores tables and policy routing`, { skip: SKIP || NO_PYTHON, timeout: 180_000 }, async (t) => {
    const lab = await netLab(t);
    const net = await lab.network('n', '10.79.4.0/24');
    const app = await lab.host('app', [{ network: net, ip: '10.79.4.2' }]);
    const peer = await lab.host('peer', [{ network: net, ip: '10.79.4.3' }]);
    await foreignRules(app);
    const state = async () => `${await tables(app)}\n--- rules\n${(await app.run('ip', ['rule', 'list'])).stdout}\n--- table 133\n${(await app.run('ip', ['route', 'show', 'table', '133'], { allowFail: true })).stdout}`;
    const before = await state();
    const flags = [...INIT.map((a) => (a === 'REDIRECT' ? 'TPROXY' : a)), ...(backend === 'nftables' ? ['--native-nftables'] : [])];

    const l = transparentListener(app);
    await l.ready;
    await tsmesh(app, flags);
    assert.match((await app.run('ip', ['rule', 'list'])).stdout, /fwmark 0x539 lookup 133/);

    assert.equal(await dial(peer, '10.79.4.2', 9080), 'connected');
    assert.ok(await waitForLine(l.lines, (x) => x === 'conn 10.79.4.3 10.79.4.2:9080'), `TPROXY did not preserve source/destination: ${l.lines.join(' | ')}`);

    await tsmesh(app, [...flags, '--cleanup']);
    assert.equal(await state(), before, '--cleanup did not restore the tables and policy routing');
    assert.equal(await dial(peer, '10.79.4.2', 9080), 'failed', 'still captured after --cleanup');
  });
}

/** A UDP responder: answers every datagram with `name`. */
function udpResponder(h: Host, bind: string, port: number, name: string, user?: { uid: number; gid: number }): { lines: string[]; ready: Promise<void> } {
  const script = `
    const s = require('node:dgram').createSocket('udp4');
    s.on('message', (m, r) => s.send('${name}', r.port, r.address));
    s.bind(${port}, '${bind}', () => console.log('ready'));`;
  const proc = h.spawn(process.execPath, ['-e', script], user ? { user } : {});
  const lines: string[] = [];
  const ready = new Promise<void>((resolve, reject) => {
    collectLines(proc, lines, () => lines.includes('ready') && resolve());
    proc.once('exit', (c) => reject(new Error(`${name} responder exited ${c}`)));
    setTimeout(() => reject(new Error(`${name} responder not ready in 10 s`)), 10_000).unref();
  });
  return { lines, ready };
}

/** Sends one UDP datagram to addr:53 and prints who answered ('timeout' if nobody). */
async function query(h: Host, addr: string, uid?: number): Promise<string> {
  const script = `
    const s = require('node:dgram').createSocket('udp4');
    const t = setTimeout(() => { console.log('timeout'); process.exit(0); }, 1500);
    s.on('message', (m, r) => { console.log(m.toString() + ' from ' + r.address + ':' + r.port); clearTimeout(t); s.close(); });
    s.send('q', 53, '${addr}');`;
  const as = uid === undefined ? [] : ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups'];
  const cmd = [...as, process.execPath, '-e', script];
  return (await h.run(cmd[0]!, cmd.slice(1), { timeoutMs: 10_000 })).stdout.trim();
}

for (const backend of ['iptables', 'nftables'] as const) {
  test(`tsmesh init --redirect-dns (${backend}): the app's DNS to resolv.conf's server reaches the agent's 15053, the agent's own goes upstream`, { skip: SKIP, timeout: 180_000 }, async (t) => {
    const lab = await netLab(t);
    const net = await lab.network('n', '10.79.5.0/24');
    const app = await lab.host('app', [{ network: net, ip: '10.79.5.2' }]);
    const dns = await lab.host('dns', [{ network: net, ip: '10.79.5.53' }]);
    app.etcFile('resolv.conf', 'nameserver 10.79.5.53\n');
    await udpResponder(dns, '0.0.0.0', 53, 'upstream').ready;
    // The agent runs as the proxy's uid (its replies join the app's conntrack zone, 2) and listens
    // on 127.0.0.1:15053 as Istio's does: REDIRECT from OUTPUT delivers to 127.0.0.1, and a reply
    // from any other address would not be translated back to the server's.
    await udpResponder(app, '127.0.0.1', 15053, 'agent', { uid: 1337, gid: 1337 }).ready;
    assert.equal(await query(app, '10.79.5.53'), 'upstream from 10.79.5.53:53');
    const before = await tables(app);

    const flags = [...INIT, '--redirect-dns', ...(backend === 'nftables' ? ['--native-nftables'] : [])];
    const dry = await tsmesh(app, [...flags, '--dry-run']);
    assert.match(dry, /10\.79\.5\.53\/32/, 'the nameserver was not read from resolv.conf');
    await tsmesh(app, flags);
    // The app sees the answer come from the server it asked, though the agent gave it.
    assert.equal(await query(app, '10.79.5.53'), 'agent from 10.79.5.53:53');
    assert.equal(await query(app, '10.79.5.53', 1337), 'upstream from 10.79.5.53:53');

    await tsmesh(app, [...flags, '--cleanup']);
    assert.equal(await tables(app), before);
    assert.equal(await query(app, '10.79.5.53'), 'upstream from 10.79.5.53:53');
  });
}
