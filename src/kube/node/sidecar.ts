/**
 * The `istio-proxy` container of a gateway pod (args `proxy --type router`, as tsmesh install's
 * istio-ingressgateway): `tsmesh proxy` as a router bound to the pod IP, with the same identity.
 *
 * The injected `istio-proxy` container as the demo runs a sidecar: `tsmesh proxy` with the demo's
 * NONE-mode bootstrap for this pod (inbound listeners on the pod IP, admin and the outbound HTTP
 * proxy listener on the app IP), pointed at the control plane the node was given. The injected
 * container's own arguments assume a network namespace per pod (iptables capture, 15001/15006 on
 * every pod); pods here share the host, so its command is replaced, as the image is.
 *
 * Identity, when the node knows the control plane's CA: a service-account token bound to the pod
 * from the TokenRequest API, audience istio-ca (the kubelet's istio-token projection), which the
 * control plane checks with TokenReview.
 */
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBootstrap, PROMETHEUS_PORT, sidecarBootstrap, writeBootstrap, XDS_CLUSTER } from '../../agent/bootstrap.ts';
import type { EnvoyJson } from '../../xds/types.ts';
import { READINESS_PORT, STATUS_PORT } from '../../agent/status_server.ts';
import { httpProbe, tcpProbe } from '../../demo/readiness.ts';
import { SIDECAR_ADMIN_PORT, SIDECAR_OUTBOUND_PORT } from '../../demo/ports.ts';
import { tsmeshCommand } from '../../common/self_command.ts';
import { ISTIO_PROXY, podInfo, type PodAddresses } from './containers.ts';
import { apiMessage, readRootCert, requestPodToken, type NodeApi } from './kube_api.ts';
import type { ContainerLaunch } from './pod_runner.ts';
import type { KubePod } from './types.ts';

export interface ControlPlaneAddress {
  /** Plaintext xDS (istiod's 15010). */
  xds: { host: string; port: number };
  /**
   * Every control-plane replica's xDS address (xds among them): the sidecar's xDS cluster lists
   * them all and the proxy fails over between them, where Istio's sidecars reach the replicas
   * behind istiod's Service VIP.
   */
  xdsReplicas?: Array<{ host: string; port: number }>;
  /**
   * The CA (istiod's 15012, or a gRPC list of replicas) and the root that signs its certificate:
   * a file, or (no file) the istio-ca-root-cert ConfigMap of the pod's namespace, as the injected
   * istiod-ca-cert volume mounts it. Without `ca` proxies run without mTLS identity.
   */
  ca?: { address: string; rootCertFile?: string };
}

/** Envoy's admin port, on a gateway pod's own IP (sidecars keep theirs on the app IP). */
const GATEWAY_ADMIN_PORT = 15000;

/**
 * True for a gateway pod: its istio-proxy runs the proxy as a router, as the image's args say
 * (`proxy --type router` from tsmesh install's istio-ingressgateway; Istio's own `proxy router`).
 */
export function isRouterPod(pod: KubePod): boolean {
  const c = [...(pod.spec.initContainers ?? []), ...pod.spec.containers].find((x) => x.name === ISTIO_PROXY);
  const a = [...(c?.command ?? []), ...(c?.args ?? [])];
  const i = a.indexOf('proxy');
  if (i < 0) return false;
  return a[i + 1] === 'router' || a.some((x, j) => (x === '--type' && a[j + 1] === 'router') || x === '--type=router');
}

const TOKEN_AUDIENCE = 'istio-ca';
/** Istio's injected istio-token projection asks for 12 hours. */
const TOKEN_SECONDS = 43_200;
const DRAIN_S = '2';

export class SidecarLauncher {
  private socketDir?: string;

  constructor(private readonly api: NodeApi, private readonly stateDir: string, private readonly repoRoot: string, private readonly controlPlane: () => ControlPlaneAddress | undefined) {}

  async launch(pod: KubePod, addr: PodAddresses): Promise<ContainerLaunch | { error: string }> {
    const cp = this.controlPlane();
    if (!cp) return { error: 'no control plane is known to this node: start it with `tsmesh demo --kube`, which runs one' };
    const { namespace, name } = pod.metadata;
    const stem = `${namespace}_${name}`;
    const info = podInfo(pod);
    const sa = pod.spec.serviceAccountName ?? 'default';
    const file = join(this.stateDir, 'bootstrap', `${stem}.json`);
    const sds = cp.ca ? this.sdsSocket(stem) : undefined;
    const router = isRouterPod(pod);
    writeBootstrap(
      file,
      withXdsReplicas(
        router
          ? // A gateway: Gateway listeners and its admin on the pod IP (GATEWAY_BIND_ADDRESS), no app behind it.
            buildBootstrap({
              type: 'router',
              ip: addr.podIP,
              pod: name,
              namespace,
              app: info.labels.app ?? workloadName(pod),
              labels: info.labels,
              serviceAccount: sa,
              workloadName: workloadName(pod),
              admin: { host: addr.podIP, port: GATEWAY_ADMIN_PORT },
              xds: cp.xds,
              metadata: { GATEWAY_BIND_ADDRESS: addr.podIP },
              ...(sds ? { sdsSocket: sds } : {}),
              prometheusPort: PROMETHEUS_PORT,
            })
          : sidecarBootstrap({
              pod: name,
              namespace,
              podIP: addr.podIP,
              appIP: addr.appIP,
              app: info.labels.app ?? name,
              labels: info.labels,
              serviceAccount: sa,
              workloadName: workloadName(pod),
              ports: info.ports,
              containerPorts: info.containerPorts,
              adminPort: SIDECAR_ADMIN_PORT,
              outboundPort: SIDECAR_OUTBOUND_PORT,
              xds: cp.xds,
              ...(sds ? { sdsSocket: sds } : {}),
            }),
        cp.xdsReplicas,
      ),
    );
    const args = ['--bootstrap', file, '--concurrency', '1', '--drain-time-s', DRAIN_S, '--status-port', String(STATUS_PORT), '--readiness-port', String(READINESS_PORT)];
    if (cp.ca) {
      let token: string;
      try {
        token = await requestPodToken(this.api, { namespace, name, uid: pod.metadata.uid, serviceAccount: sa }, TOKEN_AUDIENCE, TOKEN_SECONDS);
      } catch (err) {
        return { error: `could not get a token for service account ${namespace}/${sa} (TokenRequest): ${apiMessage(err)}` };
      }
      const dir = join(this.stateDir, 'tokens');
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const tokenFile = join(dir, `${stem}.token`);
      writeFileSync(tokenFile, token, { mode: 0o600 });
      chmodSync(tokenFile, 0o600);
      let rootFile = cp.ca.rootCertFile;
      if (!rootFile) {
        try {
          rootFile = join(dir, `${stem}.root-cert.pem`);
          writeFileSync(rootFile, await readRootCert(this.api, namespace));
        } catch (err) {
          return { error: `no mesh root for the sidecar: ${apiMessage(err)}` };
        }
      }
      args.push('--token-file', tokenFile, '--ca-root-cert', rootFile, '--ca-address', cp.ca.address);
    }
    const cmd = tsmeshCommand(['proxy', ...args], this.repoRoot);
    return {
      command: cmd.command,
      args: cmd.args,
      probes: router
        ? [httpProbe(`http://${addr.podIP}:${GATEWAY_ADMIN_PORT}/ready`)]
        : [httpProbe(`http://${addr.appIP}:${SIDECAR_ADMIN_PORT}/ready`), tcpProbe(addr.appIP, SIDECAR_OUTBOUND_PORT)],
      description: router ? 'tsmesh proxy (gateway, router)' : 'tsmesh proxy (sidecar, NONE interception)',
    };
  }

  /** Unix socket paths are short (about 100 bytes): the SDS sockets live in a private temp dir. */
  private sdsSocket(stem: string): string {
    this.socketDir ??= mkdtempSync(join(tmpdir(), 'tsmesh-node-sds-'));
    return join(this.socketDir, `${stem}.sock`);
  }

  socketDirectory(): string | undefined {
    return this.socketDir;
  }
}

/** The workload name Istio derives: the Deployment behind the ReplicaSet, else the owner, else the pod. */
function workloadName(pod: KubePod): string {
  const owner = (pod.metadata as { ownerReferences?: Array<{ kind?: string; name?: string }> }).ownerReferences?.[0];
  if (!owner?.name) return pod.metadata.name;
  const hash = pod.metadata.labels?.['pod-template-hash'];
  if (owner.kind === 'ReplicaSet' && hash && owner.name.endsWith(`-${hash}`)) return owner.name.slice(0, -hash.length - 1);
  return owner.name;
}

/** The bootstrap's xDS cluster with one endpoint per control-plane replica (see ControlPlaneAddress.xdsReplicas). */
export function withXdsReplicas(bootstrap: EnvoyJson, replicas: Array<{ host: string; port: number }> | undefined): EnvoyJson {
  if (!replicas?.length) return bootstrap;
  const xds = (bootstrap.static_resources.clusters as EnvoyJson[]).find((c) => c.name === XDS_CLUSTER)!;
  xds.load_assignment.endpoints = [{ lb_endpoints: replicas.map((r) => ({ endpoint: { address: { socket_address: { address: r.host, port_value: r.port } } } })) }];
  return bootstrap;
}
