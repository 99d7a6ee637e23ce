// Issue 14, TPROXY inbound served by the proxy itself (not a stand-in listener): `tsmesh init -m
// TPROXY` in a host, and `tsmesh proxy` (uid 1337 with CAP_NET_ADMIN, as Istio runs Envoy in TPROXY
// mode) with a `transparent: true` listener on 0.0.0.0:15006. xt_TPROXY only delivers to a socket
// with IP_TRANSPARENT, so a connection from another host reaches the app only when the proxy set
// it. The proxy's access log shows the real peer and the address it dialed (TPROXY keeps both);
// without CAP_NET_ADMIN the proxy refuses the listener naming `transparent`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { NO_NETNS, netLab, type Host } from '../helpers/netns.ts';
import { hostTcp, startHostApp, tcpEchoApp, PROXY_UID, PROXY_GID } from '../helpers/host_mesh.ts';
import { REPO } from '../helpers/processes.ts';
import { ADDON_PATH } from '../../src/proxy/listener/so_original_dst.ts';
import { tsmeshCommand } from '../../src/common/self_command.ts';
import { ACCESS_LOGGER, NETWORK_FILTER } from '../../src/xds/type_urls.ts';

const APP_IP = '10.79.6.2';
const PEER_IP = '10.79.6.3';

/** virtualInbound as the pilot sends it in TPROXY mode, reduced to one tcp_proxy chain to the app. */
function bootstrap(): object {
  return {
    node: { id: 'tproxy-test' },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: 15000 } } },
    static_resources: {
      clusters: [
        {
          name: 'app',
          type: 'STATIC',
          connect_timeout: '1s',
          load_assignment: { cluster_name: 'app', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 9080 } } } }] }] },
        },
      ],
      listeners: [
        {
          name: 'virtualInbound',
          address: { socket_address: { address: '0.0.0.0', port_value: 15006 } },
          transparent: true,
          filter_chains: [
            {
              filters: [
                {
                  name: 'envoy.filters.network.tcp_proxy',
                  typed_config: {
                    '@type': NETWORK_FILTER.TCP_PROXY,
                    stat_prefix: 'inbound',
                    cluster: 'app',
                    access_log: [{ name: 'envoy.access_loggers.file', typed_config: { '@type': ACCESS_LOGGER.FILE, path: '/dev/stdout', log_format: { text_format_source: { inline_string: 'tproxy peer=%DOWNSTREAM_REMOTE_ADDRESS% local=%DOWNSTREAM_LOCAL_ADDRESS%\n' } } } }],
                  },
                },
              ],
            },
          ],
        },
      ],
    },
  };
}

/** `tsmesh proxy -c file` in the host as uid/gid 1337, with CAP_NET_ADMIN (ambient) when `netAdmin`. */
function startProxy(h: Host, file: string, netAdmin: boolean): { child: ChildProcess; output: () => string } {
  const cmd = tsmeshCommand(['proxy', '-c', file, '--drain-time-s', '0']);
  const caps = netAdmin ? ['--inh-caps=+net_admin', '--ambient-caps=+net_admin'] : [];
  const child = h.spawn('setpriv', [`--reuid=${PROXY_UID}`, `--regid=${PROXY_GID}`, '--clear-groups', ...caps, cmd.command, ...cmd.args], {
    cwd: REPO,
    env: { ...process.env, HOME: '/tmp', TMPDIR: '/tmp' },
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  return { child, output: () => out };
}

/** Resolves when `re` is in the output, rejects when the process exits first or after `ms`. */
function waitFor(p: { child: ChildProcess; output: () => string }, re: RegExp, what: string, ms = 60_000): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const timer = setInterval(() => {
      const m = re.exec(p.output());
      if (m) done(() => resolve(m));
      else if (p.child.exitCode !== null || p.child.signalCode !== null) done(() => reject(new Error(`${what}: the proxy exited (${p.child.exitCode}):\n${p.output().slice(-3000)}`)));
    }, 50);
    const limit = setTimeout(() => done(() => reject(new Error(`${what}: not seen in ${ms} ms:\n${p.output().slice(-3000)}`))), ms);
    const done = (f: () => void) => {
      clearInterval(timer);
      clearTimeout(limit);
      f();
    };
  });
}

const NO_SETPRIV = spawnSync('sh', ['-c', 'command -v setpriv']).status !== 0 ? 'setpriv missing' : false;

test('tsmesh proxy serves TPROXY inbound on a transparent 15006 listener: the real peer and destination, and a clear refusal without CAP_NET_ADMIN', { skip: NO_NETNS || NO_SETPRIV || (!existsSync(ADDON_PATH) && 'native addon not built (npm install with a C compiler)'), timeout: 180_000 }, async (t) => {
  const lab = await netLab(t);
  const net = await lab.network('n', '10.79.6.0/24');
  const app = await lab.host('app', [{ network: net, ip: APP_IP }]);
  const peer = await lab.host('peer', [{ network: net, ip: PEER_IP }]);
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-tproxy-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  chmodSync(dir, 0o755);
  const file = join(dir, 'bootstrap.json');
  writeFileSync(file, JSON.stringify(bootstrap()), { mode: 0o644 });

  const echo = await startHostApp(app, tcpEchoApp(9080, 'app'));
  t.after(() => echo.stop());
  const init = tsmeshCommand(['init', '-p', '15001', '-z', '15006', '-u', String(PROXY_UID), '-g', String(PROXY_GID), '-m', 'TPROXY', '-i', '*', '-b', '*', '-d', '15090,15021,15020']);
  await app.run(init.command, init.args, { timeoutMs: 60_000 });

  // Without CAP_NET_ADMIN, IP_TRANSPARENT cannot be set: the listener is refused at start.
  const denied = startProxy(app, file, false);
  const exit = await new Promise<number | null>((r) => denied.child.once('exit', r));
  assert.notEqual(exit, 0, denied.output());
  assert.match(denied.output(), /listener virtualInbound: .*transparent: setsockopt\(IP_TRANSPARENT\).*CAP_NET_ADMIN/);

  const proxy = startProxy(app, file, true);
  t.after(() => void proxy.child.kill('SIGKILL'));
  await waitFor(proxy, /tsmesh proxy ready/, 'proxy ready');

  // From another host to the app's own address and port: TPROXY hands it to the proxy's 15006.
  const replies = await hostTcp(peer, APP_IP, 9080, 'hello', { count: 3 });
  // The app's peer is the proxy (127.0.0.1): the connection went through it, not around it.
  for (const r of replies) assert.equal(r, 'app 127.0.0.1\nhello');
  const lines = await waitFor(proxy, /(tproxy peer=.*\n){3}/, 'three access log lines');
  const seen = lines[0].trim().split('\n');
  console.log(`proxy access log: ${seen.join(' | ')}`);
  for (const l of seen) assert.match(l, new RegExp(`^tproxy peer=${PEER_IP.replace(/\./g, '\\.')}:\\d+ local=${APP_IP.replace(/\./g, '\\.')}:9080$`));
});
