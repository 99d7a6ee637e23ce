/**
 * The capture API beside the rule builder: Istio's pod annotations -> options, resolv.conf
 * nameservers, the nftables translation, and `tsmesh init`'s flags and --dry-run output.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { captureOptionsFromAnnotations, sidecarCaptureDefaults } from '../../../src/agent/capture/annotations.ts';
import { resolvConfServers } from '../../../src/agent/capture/apply.ts';
import { buildCaptureRules, iptablesRestoreLines } from '../../../src/agent/capture/iptables_rules.ts';
import { nftRule, nftScript } from '../../../src/agent/capture/nftables.ts';
import { captureOptions, validateCaptureOptions } from '../../../src/agent/capture/options.ts';
import { initCommand } from '../../../src/cli/init.ts';

function capture(): { out: { log(l: string): void; error(l: string): void }; logs: string[]; errors: string[] } {
  const logs: string[] = [];
  const errors: string[] = [];
  return { out: { log: (l) => logs.push(l), error: (l) => errors.push(l) }, logs, errors };
}

test('annotations map to options as the injector passes them to istio-init', () => {
  const r = captureOptionsFromAnnotations({
    'traffic.sidecar.istio.io/includeOutboundIPRanges': '10.0.0.0/8',
    'traffic.sidecar.istio.io/excludeOutboundIPRanges': '10.96.0.1/32',
    'traffic.sidecar.istio.io/includeInboundPorts': '9080',
    'traffic.sidecar.istio.io/excludeInboundPorts': '9443',
    'traffic.sidecar.istio.io/excludeOutboundPorts': '5432,6379',
    'sidecar.istio.io/interceptionMode': 'TPROXY',
    unrelated: 'x',
  });
  assert.ok(r.ok);
  assert.equal(r.options.outboundIPRangesInclude, '10.0.0.0/8');
  assert.equal(r.options.outboundIPRangesExclude, '10.96.0.1/32');
  assert.equal(r.options.inboundPortsInclude, '9080');
  assert.equal(r.options.inboundPortsExclude, '9443,15090,15021,15020');
  assert.equal(r.options.outboundPortsExclude, '5432,6379');
  assert.equal(r.options.inboundInterceptionMode, 'TPROXY');
  const lines = iptablesRestoreLines(buildCaptureRules(r.options).v4);
  assert.ok(lines.includes('-A ISTIO_OUTPUT -p tcp --dport 5432 -j RETURN'));
  assert.ok(lines.includes('-A ISTIO_OUTPUT -d 10.96.0.1/32 -j RETURN'));
  assert.ok(lines.includes('-A ISTIO_OUTPUT -d 10.0.0.0/8 -j ISTIO_REDIRECT'));
  assert.ok(lines.includes('-A ISTIO_INBOUND -p tcp --dport 9080 -j ISTIO_TPROXY'));

  const none = captureOptionsFromAnnotations({});
  assert.ok(none.ok);
  assert.deepEqual(none.options, sidecarCaptureDefaults());
  assert.equal(none.options.outboundIPRangesInclude, '*');
  assert.equal(none.options.inboundPortsInclude, '*');

  const bad = captureOptionsFromAnnotations({ 'sidecar.istio.io/interceptionMode': 'BOGUS' });
  assert.ok(!bad.ok);
  assert.match(bad.error, /sidecar.istio.io\/interceptionMode must be REDIRECT, TPROXY or NONE/);
});

test('resolv.conf nameservers by family', () => {
  assert.deepEqual(resolvConfServers('# x\nsearch a.b\nnameserver 10.0.0.10\nnameserver fd00::a\n nameserver 8.8.8.8 \n'), { v4: ['10.0.0.10', '8.8.8.8'], v6: ['fd00::a'] });
  // A zone is not part of the address (ip6tables-restore refuses `-d fe80::1%eth0/128`); junk is no nameserver.
  assert.deepEqual(resolvConfServers('nameserver fe80::1%eth0\nnameserver dns.example\nnameserver 10.0.0.300\nnameserver 1.1.1.1 # cf\n'), { v4: ['1.1.1.1'], v6: ['fe80::1'] });
});

test('validation names the flag and the bad value', () => {
  const errs = validateCaptureOptions(captureOptions({ proxyPort: 'x', inboundInterceptionMode: 'NOPE' as never, outboundIPRangesExclude: '*', proxyUID: 'istio' }));
  assert.ok(errs.some((e) => e.startsWith('--envoy-port must be a port number')));
  assert.ok(errs.some((e) => e.includes('--istio-inbound-interception-mode must be REDIRECT or TPROXY')));
  assert.ok(errs.some((e) => e.includes('--istio-service-exclude-cidr cannot be "*"')));
  assert.ok(errs.some((e) => e.includes('numeric ids')));
  // CIDRs, interface names, the route table, owner groups and DNS servers are checked before any
  // rule is written (the nft script would otherwise carry them as written).
  const bad = validateCaptureOptions(
    captureOptions({
      outboundIPRangesInclude: '10.0.0.0/8,10.1.0.0/33',
      outboundIPRangesExclude: 'fd00::/129,bogus,1.2.3.4',
      excludeInterfaces: 'eth0,a-very-long-interface-name,"x"',
      rerouteVirtualInterfaces: 'veth; drop',
      inboundTProxyRouteTable: 'main',
      ownerGroupsExclude: 'wheel,{ bad }',
      dnsServersV4: ['10.0.0.10', 'fd00::a'],
      dnsServersV6: ['fe80::1%eth0'],
      hostIPv4LoopbackCidr: '::1/128',
    }),
  );
  const has = (re: RegExp) => assert.ok(bad.some((e) => re.test(e)), `no error matching ${re}: ${bad.join(' | ')}`);
  has(/^--istio-service-cidr .*"10\.1\.0\.0\/33"/);
  has(/^--istio-service-exclude-cidr .*"fd00::\/129"/);
  has(/^--istio-service-exclude-cidr .*"bogus"/);
  has(/^--istio-exclude-interfaces .*"a-very-long-interface-name"/);
  has(/^--istio-exclude-interfaces .*"\\"x\\""/);
  has(/^--kube-virt-interfaces .*"veth; drop"/);
  has(/^--istio-inbound-tproxy-route-table .*"main"/);
  has(/^--istio-outbound-owner-groups-exclude .*"\{ bad \}"/);
  has(/DNS server "fd00::a" is not an IPv4 address/);
  has(/DNS server "fe80::1%eth0" is not an IPv6 address/);
  has(/host loopback range must be an IPv4 CIDR/);
  assert.equal(bad.length, 11, bad.join('\n'));
  // Istio's values pass: '*' for the service CIDR and owner groups, empty lists, plain addresses.
  assert.deepEqual(validateCaptureOptions(captureOptions({ outboundIPRangesInclude: '*', outboundIPRangesExclude: '10.96.0.1, fd00::/64', excludeInterfaces: 'eth1.100,cni0', ownerGroupsInclude: '*', ownerGroupsExclude: '1337', dnsServersV6: ['fe80::1'] })), []);
});

test('nftables: iptables options translate to nft expressions', () => {
  assert.equal(nftRule(['-o', 'lo', '!', '-d', '127.0.0.1/32', '-p', 'tcp', '-m', 'multiport', '!', '--dports', '53,15008', '-m', 'owner', '--uid-owner', '3', '-j', 'ISTIO_IN_REDIRECT'], 'v4'), 'oifname "lo" ip daddr != 127.0.0.1/32 meta l4proto tcp tcp dport != { 53, 15008 } meta skuid 3 jump istio-in-redirect');
  assert.equal(nftRule(['-p', 'udp', '--dport', '53', '-d', '::127.0.0.53/128', '-j', 'REDIRECT', '--to-port', '15053'], 'v6'), 'meta l4proto udp udp dport 53 ip6 daddr ::127.0.0.53/128 redirect to :15053');
  assert.equal(nftRule(['!', '-d', '::1/128', '-p', 'tcp', '-j', 'TPROXY', '--tproxy-mark', '1337/0xffffffff', '--on-port', '15006'], 'v6'), 'ip6 daddr != ::1/128 meta l4proto tcp tproxy to :15006 meta mark set 1337 accept');
  assert.equal(nftRule(['-p', 'tcp', '-m', 'connmark', '--mark', '1337', '-j', 'CONNMARK', '--restore-mark'], 'v4'), 'meta l4proto tcp ct mark 1337 meta mark set ct mark');
  assert.throws(() => nftRule(['-m', 'comment', '--comment', 'x', '-j', 'RETURN'], 'v4'), /no nftables translation for iptables option --comment/);
});

test('nftables: inserts land where iptables would put them', () => {
  const rules = buildCaptureRules(captureOptions({ inboundPortsInclude: '*', inboundInterceptionMode: 'TPROXY' }));
  const inbound = nftScript(rules.v4, 'v4')
    .split('\n')
    .filter((l) => l.startsWith('add rule ip istio-proxy-mangle istio-inbound '));
  assert.deepEqual(
    inbound.map((l) => l.slice('add rule ip istio-proxy-mangle istio-inbound '.length)),
    ['meta l4proto tcp meta mark 1337 return', 'meta l4proto tcp ip saddr 127.0.0.6/32 iifname "lo" return', 'meta l4proto tcp iifname "lo" meta mark != 1338 return', 'meta l4proto tcp ct state related,established jump istio-divert', 'meta l4proto tcp jump istio-tproxy'],
  );
});

test('nftables: every option combination the goldens use makes a script nft accepts', { skip: process.getuid?.() !== 0 || spawnSync('sh', ['-c', 'command -v nft && command -v unshare']).status !== 0 ? 'needs root, nft and unshare' : false }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-nft-'));
  try {
    const all = captureOptions({
      inboundPortsInclude: '*',
      inboundPortsExclude: '15090',
      inboundInterceptionMode: 'TPROXY',
      outboundIPRangesInclude: '10.0.0.0/8,fd00::/8',
      outboundIPRangesExclude: '10.96.0.0/12,fd00:1::/64',
      outboundPortsInclude: '8080',
      outboundPortsExclude: '25',
      rerouteVirtualInterfaces: 'eth1',
      excludeInterfaces: 'eth9',
      redirectDNS: true,
      dnsServersV4: ['10.0.0.10'],
      dnsServersV6: ['fd00::a'],
      dropInvalid: true,
      enableIPv6: true,
      proxyUID: '3,4',
      ownerGroupsExclude: '888',
    });
    const rules = buildCaptureRules(all);
    const file = join(dir, 'rules.nft');
    writeFileSync(file, nftScript(rules.v4, 'v4') + nftScript(rules.v6, 'v6'));
    // A throwaway network namespace: -c only checks, but nothing touches this host either way.
    const r = spawnSync('unshare', ['-n', 'nft', '-c', '-f', file], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('tsmesh init --dry-run prints iptables-restore input; --help names istio-iptables flags; bad flags are sentences', async () => {
  const a = capture();
  assert.equal(await initCommand(['-n', '-i', '*', '-x', '', '-b', '*', '-d', '15090,15021,15020'], a.out), 0);
  const text = a.logs.join('\n');
  assert.match(text, /^# iptables-restore --noflush\n\* nat\n-N ISTIO_INBOUND/);
  assert.match(text, /-A ISTIO_INBOUND -p tcp --dport 15021 -j RETURN/);
  assert.match(text, /-A ISTIO_OUTPUT -j ISTIO_REDIRECT\nCOMMIT$/);

  const n = capture();
  assert.equal(await initCommand(['--dry-run', '--native-nftables', '-i', '10.0.0.0/8', '--ipv6'], n.out), 0);
  assert.match(n.logs.join('\n'), /add rule ip istio-proxy-nat istio-output ip daddr 10.0.0.0\/8 jump istio-redirect/);
  assert.match(n.logs.join('\n'), /# ip6: nft -f -/);

  const d = capture();
  assert.equal(await initCommand(['-n', '--redirect-dns', '--dns-servers', '10.1.1.1,fd00::53', '--ipv6'], d.out), 0);
  assert.match(d.logs.join('\n'), /-A ISTIO_OUTPUT_DNS -p udp --dport 53 -d 10.1.1.1\/32 -j REDIRECT --to-port 15053/);
  assert.match(d.logs.join('\n'), /-A ISTIO_OUTPUT_DNS -p udp --dport 53 -d fd00::53\/128 -j REDIRECT --to-port 15053/);

  const h = capture();
  assert.equal(await initCommand(['--help'], h.out), 0);
  for (const f of ['--envoy-port', '--inbound-capture-port', '--proxy-uid', '--istio-inbound-interception-mode', '--istio-service-cidr', '--istio-inbound-ports', '--istio-local-exclude-ports', '--istio-local-outbound-ports-exclude', '--redirect-dns', '--cleanup', '--dry-run']) {
    assert.ok(h.logs[0]!.includes(f), `help lacks ${f}`);
  }

  const bad = capture();
  assert.equal(await initCommand(['-p', 'abc', '-n'], bad.out), 2);
  assert.match(bad.errors.join('\n'), /--envoy-port must be a port number/);
  const unknown = capture();
  assert.equal(await initCommand(['--bogus'], unknown.out), 2);
  assert.match(unknown.errors.join('\n'), /unknown flag --bogus/);
});
