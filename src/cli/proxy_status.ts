/**
 * `tsmesh proxy-status [<pod>[.<namespace>] | deploy/<name>]` (alias `ps`): istioctl's
 * proxy-status. Without a pod: every proxy connected to the control plane with its xDS sync
 * state per type. With a pod: the diff between what the control plane would send it now and
 * what the proxy holds (its /config_dump, or a saved one with --file).
 */
import { parseFlags, one } from './flags.ts';
import { renderTable } from './proxy_config_table.ts';
import { compareWithControlPlane } from './proxy_config_diff.ts';
import { proxyConfigDump, readConfigDumpFile, type ConfigDump } from './proxy_config_source.ts';
import { controlPlaneGet, controlPlaneRef, type ControlPlaneRef } from './controlplane_client.ts';
import { demoPodTargets, loadDemoState, resolvePod, parsePodArg } from './pod_ref.ts';
import { shortProxyName } from '../xds/debug_proxies.ts';
import { STATUS_HEADER, statusRows, type SyncRow } from '../xds/sync_status.ts';
import type { EnvoyJson } from '../xds/types.ts';

const HELP = `Usage: tsmesh proxy-status [<pod>[.<namespace>] | deploy/<name>] [flags]   (alias: ps)

Retrieves the last sent and last acknowledged xDS sync from the control plane to each proxy,
as istioctl proxy-status does:
  NAME      <pod>.<namespace> of each proxy connected to the control plane (the ingress
            gateway too)
  CLUSTER   the proxy's cluster id (its CLUSTER_ID node metadata; Kubernetes by default)
  CDS LDS EDS RDS ECDS
            SYNCED    the proxy ACKed the last response the control plane sent it
            NOT SENT  the control plane has sent nothing of that type (ECDS: tsmesh never
                      sends extension configs, so it is always NOT SENT)
            STALE     the proxy ACKed an older response but not the last one sent (not yet,
                      or it NACKed it): it is slow, stopped, or rejected it (its log says why)
            STALE (Never Acknowledged)
                      responses of that type were sent and the proxy has ACKed none of them:
                      it stopped or rejected every one since it connected
            (istioctl's IGNORED is for ztunnel proxies, which tsmesh does not have)
  ISTIOD    the control plane instance (its POD_NAME, else its host name)
  VERSION   the proxy's version: a tsmesh proxy's own build, else its ISTIO_VERSION node
            metadata (a real Envoy)

A proxy whose control-plane connection is gone is not listed, as in istioctl. A stopped proxy
whose connection is still open shows STALE once a push reaches it. With a running demo, demo
pods with a sidecar that are not connected are named on stderr after the table, so a missing
row does not go unnoticed.

With a pod, compares what the control plane would send that proxy now with what the proxy
has (clusters, listeners, routes): "Clusters Match", or "Clusters Don't Match" and a unified
diff (--- Istiod / +++ Envoy).

Pods: <pod>.<namespace>, <pod> (namespace default, or -n), deploy/<name>.

Flags:
  -n, --namespace <ns>     the pod's namespace (default: default)
  -f, --file <dump.json>   compare with this Envoy config dump instead of the proxy's own
  --controlplane <url>     the control plane's HTTP address (default: $TSMESH_CONTROLPLANE, else
                           the demo's in --state-dir, else http://127.0.0.1:15014)
  --state-dir <dir>        the demo's state directory (default ./.tsmesh/demo): its pods, and
                           its control plane
  -i, --istioNamespace, --revision
                           accepted for istioctl's sake (one control plane here)
  -h, --help`;

export async function proxyStatusCommand(argv: string[]): Promise<number> {
  const parsed = parseFlags(argv, [
    { name: 'namespace', alias: 'n' },
    { name: 'file', alias: 'f' },
    { name: 'controlplane' },
    { name: 'state-dir' },
    { name: 'istioNamespace', alias: 'i' },
    { name: 'revision' },
    { name: 'help', alias: 'h', boolean: true },
  ]);
  if (!parsed.ok) return usage(parsed.error);
  if (parsed.flags.help) {
    console.log(HELP);
    return 0;
  }
  if (parsed.rest.length > 1) return usage(`one pod at most, got ${parsed.rest.join(' ')}`);
  const stateDir = one(parsed.flags, 'state-dir');
  const cp = controlPlaneRef(one(parsed.flags, 'controlplane'), stateDir);
  const syncz = await controlPlaneGet<SyncRow[]>(cp, '/debug/syncz');
  if ('error' in syncz) return fail(syncz.error);
  const rows = syncz.value.filter((r) => r.types && r.proxyId.split('~').length === 4);

  const podArg = parsed.rest[0];
  if (podArg === undefined) {
    if (rows.length === 0) {
      console.error('tsmesh proxy-status: no proxies are connected to the control plane at ' + cp.url);
      return 0;
    }
    process.stdout.write(renderTable(STATUS_HEADER, statusRows(rows)));
    const loaded = loadDemoState(stateDir);
    if ('state' in loaded) {
      const connected = new Set(rows.map((r) => r.proxy ?? shortProxyName(r.proxyId)));
      const missing = demoPodTargets(loaded.state).filter((p) => p.sidecar && !connected.has(`${p.name}.${p.namespace}`));
      if (missing.length > 0) console.error(`not connected to the control plane (not listed): ${missing.map((p) => `${p.name}.${p.namespace}`).join(', ')}`);
    }
    return 0;
  }
  return diffOne(podArg, one(parsed.flags, 'namespace'), stateDir, one(parsed.flags, 'file'), cp);
}

async function diffOne(podArg: string, namespace: string | undefined, stateDir: string | undefined, file: string | undefined, cp: ControlPlaneRef): Promise<number> {
  let shortName: string;
  let envoy: ConfigDump;
  if (file) {
    const ref = parsePodArg(podArg, namespace);
    if ('error' in ref) return fail(ref.error);
    const found = resolvePod(podArg, { namespace, stateDir });
    shortName = 'pod' in found ? `${found.pod.name}.${found.pod.namespace}` : `${ref.name}.${ref.namespace}`;
    const dump = readConfigDumpFile(file);
    if ('error' in dump) return fail(dump.error);
    envoy = dump.value;
  } else {
    const found = resolvePod(podArg, { namespace, stateDir });
    if ('error' in found) return fail(found.error);
    shortName = `${found.pod.name}.${found.pod.namespace}`;
    if (!found.pod.admin) return fail(`${shortName} has no sidecar: nothing to compare`);
    const dump = await proxyConfigDump(found.pod.admin, shortName);
    if ('error' in dump) return fail(dump.error);
    envoy = dump.value;
  }
  const istiod = await controlPlaneGet<Record<string, EnvoyJson[]>>(cp, `/debug/config_dump?proxyID=${encodeURIComponent(shortName)}`);
  if ('error' in istiod) return fail(istiod.error);
  for (const c of compareWithControlPlane(istiod.value, envoy)) {
    if (c.match) console.log(`${c.label} Match`);
    else console.log(`${c.label} Don't Match\n${c.diff}`);
  }
  return 0;
}

function usage(why: string): number {
  console.error(`tsmesh proxy-status: ${why}\n\n${HELP}`);
  return 2;
}

function fail(why: string): number {
  console.error(`tsmesh proxy-status: ${why}`);
  return 1;
}
