/**
 * Acceptance 6: our rule builder, run with the flags of each of istio-iptables' golden tests
 * (tools/istio-iptables/pkg/capture/run_test.go), writes what Istio's golden file records, line
 * for line. The goldens are read in place from ../shared/istio-data.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ISTIO_DATA } from '../../helpers/istio_data.ts';
import { buildCaptureRules, istioGoldenTranscript } from '../../../src/agent/capture/iptables_rules.ts';
import { captureOptions, type CaptureOptions } from '../../../src/agent/capture/options.ts';

const GOLDEN_DIR = join(ISTIO_DATA, 'tools/istio-iptables/pkg/capture/testdata');

/** run_test.go's cases: the config each golden was written with (on top of its test defaults). */
const CASES: Record<string, Partial<CaptureOptions>> = {
  'ipv6-empty-inbound-ports': { inboundPortsInclude: '', enableIPv6: true },
  'ip-range': { outboundIPRangesExclude: '1.1.0.0/16', outboundIPRangesInclude: '9.9.0.0/16', redirectDNS: true, enableIPv6: false, proxyGID: '1,2', proxyUID: '3,4', dnsServersV4: ['127.0.0.53'] },
  tproxy: {
    inboundInterceptionMode: 'TPROXY',
    inboundPortsInclude: '*',
    outboundIPRangesExclude: '1.1.0.0/16',
    outboundIPRangesInclude: '9.9.0.0/16',
    redirectDNS: true,
    dnsServersV4: ['127.0.0.53'],
    proxyGID: '1337',
    proxyUID: '1337',
    excludeInterfaces: 'not-istio-nic',
    enableIPv6: true,
  },
  'ipv6-inbound-ports': { inboundPortsInclude: '4000,5000', enableIPv6: true },
  'ipv6-virt-interfaces': { inboundPortsInclude: '4000,5000', rerouteVirtualInterfaces: 'eth0,eth1', enableIPv6: true },
  'ipv6-ipnets': { inboundPortsInclude: '4000,5000', inboundPortsExclude: '6000,7000,', rerouteVirtualInterfaces: 'eth0,eth1', outboundIPRangesExclude: '2001:db8::/32', outboundIPRangesInclude: '2001:db8::/32', enableIPv6: true },
  'ipv6-uid-gid': {
    inboundPortsInclude: '4000,5000',
    inboundPortsExclude: '6000,7000',
    rerouteVirtualInterfaces: 'eth0,eth1',
    proxyGID: '1,2',
    proxyUID: '3,4',
    enableIPv6: true,
    outboundIPRangesExclude: '2001:db8::/32',
    outboundIPRangesInclude: '2001:db8::/32',
  },
  'ipv6-outbound-ports': { inboundPortsInclude: '', outboundPortsInclude: '32000,31000', enableIPv6: true },
  empty: {},
  'kube-virt-interfaces': { rerouteVirtualInterfaces: 'eth1,eth2', outboundIPRangesInclude: '*' },
  ipnets: { outboundIPRangesInclude: '10.0.0.0/8' },
  'ipnets-with-kube-virt-interfaces': { rerouteVirtualInterfaces: 'eth1,eth2', outboundIPRangesInclude: '10.0.0.0/8' },
  'inbound-ports-include': { inboundPortsInclude: '32000,31000' },
  'inbound-ports-wildcard': { inboundPortsInclude: '*' },
  'inbound-ports-tproxy': { inboundPortsInclude: '32000,31000', inboundInterceptionMode: 'TPROXY' },
  'inbound-ports-wildcard-tproxy': { inboundPortsInclude: '*', inboundInterceptionMode: 'TPROXY' },
  'dns-uid-gid': { redirectDNS: true, dnsServersV4: ['127.0.0.53'], dnsServersV6: ['::127.0.0.53'], proxyGID: '1,2', proxyUID: '3,4', enableIPv6: true },
  'ipv6-dns-uid-gid': { enableIPv6: true, redirectDNS: true, proxyGID: '1,2', proxyUID: '3,4' },
  'outbound-owner-groups': { ownerGroupsInclude: 'java,202' },
  'outbound-owner-groups-exclude': { ownerGroupsExclude: '888,ftp' },
  'ipv6-dns-outbound-owner-groups': { enableIPv6: true, redirectDNS: true, ownerGroupsInclude: 'java,202' },
  'ipv6-dns-outbound-owner-groups-exclude': { enableIPv6: true, redirectDNS: true, ownerGroupsExclude: '888,ftp' },
  'outbound-ports-include': { outboundPortsInclude: '32000,31000' },
  'loopback-outbound-iprange': { outboundIPRangesInclude: '127.1.2.3/32', redirectDNS: true, dnsServersV4: ['127.0.0.53'], enableIPv6: false, proxyGID: '1,2', proxyUID: '3,4' },
  'basic-exclude-nic': { excludeInterfaces: 'not-istio-nic' },
  'drop-invalid': { dropInvalid: true },
  'host-ipv4-loopback-cidr': { hostIPv4LoopbackCidr: '127.0.0.1/8' },
};

/**
 * Goldens we knowingly do not reproduce, with the reason. Empty: every golden in the data dir
 * matches. (A golden listed here is still run, and must still differ, so the list cannot rot.)
 */
const KNOWN_DIFFERENCES: Record<string, string> = {};

const missing = !existsSync(GOLDEN_DIR);

test('every golden in the data directory has a case here', { skip: missing && `no Istio data at ${GOLDEN_DIR}` }, () => {
  const goldens = readdirSync(GOLDEN_DIR)
    .filter((f) => f.endsWith('.golden'))
    .map((f) => f.slice(0, -'.golden'.length))
    .sort();
  assert.deepEqual(goldens.filter((g) => !(g in CASES)), [], 'goldens without a case in this test');
});

let matched = 0;
for (const [name, partial] of Object.entries(CASES)) {
  const file = join(GOLDEN_DIR, `${name}.golden`);
  test(`istio-iptables golden ${name}`, { skip: missing ? `no Istio data at ${GOLDEN_DIR}` : !existsSync(file) && `${name}.golden is not in this Istio data` }, () => {
    const opts = captureOptions(partial);
    const got = istioGoldenTranscript(buildCaptureRules(opts), opts.enableIPv6);
    const want = readFileSync(file, 'utf8').replace(/\n+$/, '').split('\n');
    if (name in KNOWN_DIFFERENCES) {
      assert.notDeepEqual(got, want, `${name} now matches: remove it from KNOWN_DIFFERENCES`);
      return;
    }
    assert.deepEqual(got, want);
    matched++;
  });
}

test('golden figure', { skip: missing && 'no Istio data' }, () => {
  const total = Object.keys(CASES).filter((n) => existsSync(join(GOLDEN_DIR, `${n}.golden`))).length;
  console.log(`istio-iptables goldens matched rule for rule: ${matched}/${total} (known differences: ${Object.keys(KNOWN_DIFFERENCES).length})`);
  assert.equal(matched, total - Object.keys(KNOWN_DIFFERENCES).length);
});
