/** `tsmesh controlplane`: flags in, a running ControlPlane out; SIGTERM/SIGINT close it cleanly. */
import { parseArgs } from 'node:util';
import { existsSync, statSync } from 'node:fs';
import { ControlPlane } from '../controlplane/server.ts';
import { durationMsOf } from '../api/duration.ts';
import type { CertificateAuthority as Authority } from '../ca/authority.ts';

/** Kubernetes mode, loaded only when asked for: without --kubeconfig nothing Kubernetes is imported. */
async function connectKube(kubeconfig: string | undefined, namespace: string | undefined, revision: string | undefined, caSecret: boolean) {
  const { KubernetesMode } = await import('../kube/controlplane.ts');
  return KubernetesMode.connect({ ...(kubeconfig ? { kubeconfig } : {}), ...(namespace ? { namespace } : {}), ...(revision ? { revision } : {}), caSecret });
}

/** Where the kubelet mounts a pod's service-account token (what in-cluster clients read). */
const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/** istiod's --httpsAddr: ":15017", "host:port" or a port; "off" runs no webhook server. */
function parseHttpsAddr(v: string, address: string): { host: string; port: number } | 'off' | undefined {
  if (v === 'off') return 'off';
  const m = /^(?:(.*):)?(\d+)$/.exec(v);
  if (!m || Number(m[2]) > 65535) return undefined;
  return { host: m[1] || address, port: Number(m[2]) };
}

const HELP = `Usage: tsmesh controlplane --config <dir> [flags]
       tsmesh controlplane --kubeconfig <file> [flags]

Runs the control plane (istiod's job): reads Istio YAML from a directory (changes apply without a
restart), discovers services, translates both to Envoy xDS v3 and serves it over ADS.

Flags:
  -c, --config <dir>     directory of Istio / Kubernetes YAML, watched for changes (required)
      --kubeconfig <file>
                         Kubernetes mode (istiod's): Istio config, Services, EndpointSlices,
                         Pods and Nodes from the API server (informers); mesh config from the
                         \`istio\` ConfigMap; CSR tokens checked with TokenReview (audience
                         istio-ca); status.validationMessages written by the Lease leader.
                         Also taken from KUBECONFIG when --config is not given; in a pod
                         (KUBERNETES_SERVICE_HOST set) the pod's service account is used
      --httpsAddr <[host]:port|off>
                         Kubernetes mode: istiod's admission webhooks (/inject, /validate)
                         over HTTPS with a certificate from the mesh CA (default :15017,
                         Istio's, on --address; a free port when --grpc-port is 0); the caBundle of tsmesh install's webhook
                         configurations is patched to the mesh root at start
      --revision <rev>   Kubernetes mode: the revision this control plane serves (Istio's
                         istiod --revision; env REVISION; default: the default revision):
                         mesh config from ConfigMap istio-<rev>, webhook configurations
                         istio-sidecar-injector-<rev> and istio-validator-<rev>-<ns>, the
                         webhook certificate for istiod-<rev>.<ns>.svc
  -i, --istioNamespace <ns>
                         Kubernetes mode: the control plane's namespace, where its Lease and
                         mesh ConfigMap live (default istio-system; env POD_NAMESPACE)
  -m, --mesh <file>      meshConfig YAML (trustDomain, outboundTrafficPolicy, discoverySelectors...)
      --address <ip>     address to bind (default 127.0.0.1)
      --grpc-port <n>    xDS gRPC port (default 15010, Istio's)
      --http-port <n>    debug and apply HTTP port (default 15014, Istio's monitoring port)
      --secure-grpc-port <n>
                         the CA (CSR service) and xDS over TLS (default 15012, Istio's)
      --zipkin-port <n|off>
                         the embedded Zipkin collector (POST /api/v2/spans, Zipkin's query
                         API): default 9411, Zipkin's (a free port when 9411 is taken, or
                         when --grpc-port is 0); 0 picks a free one; off runs none
      --state-dir <dir>  where the CA root and the workload-token key are kept, created on
                         first start (default ~/.tsmesh/controlplane); \`tsmesh token create\`
                         reads the same directory
      --cacerts <dir>    Istio's plug-in CA: ca-cert.pem, ca-key.pem, root-cert.pem,
                         cert-chain.pem (default: a self-signed root in the state dir)
      --workload-cert-ttl <duration>
                         lifetime of workload certificates (default 24h; e.g. 1h, 90s)
      --retry-budget <on|off>
                         on (default): every outbound cluster gets a retry budget (retries
                         in flight at most 20% of active requests, min 3) unless its
                         DestinationRule sets retryBudget or maxRetries; off: Istio's
                         behaviour, retries bounded by max_retries alone. Env:
                         TSMESH_RETRY_BUDGET
  -h, --help             this help

Environment (istiod's names where it has one):
  PILOT_PUSH_THROTTLE     connections that may have xDS responses over 16 KiB being written at
                          once (100); smaller ones (endpoint changes) are not held back
  TSMESH_PUSH_BUFFER_MB   bytes of xDS responses being written at once, across connections
                          (64); a larger single response goes out alone

Debug pages: /debug/syncz, /debug/connections, /debug/configz, /debug/registryz,
/debug/config_dump?proxyID=<id>. Config changes: POST /apis/v1/apply (tsmesh apply -f).`;

export async function controlplaneCommand(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        config: { type: 'string', short: 'c' },
        mesh: { type: 'string', short: 'm' },
        kubeconfig: { type: 'string' },
        istioNamespace: { type: 'string', short: 'i' },
        revision: { type: 'string' },
        httpsAddr: { type: 'string' },
        address: { type: 'string', default: '127.0.0.1' },
        'grpc-port': { type: 'string', default: '15010' },
        'http-port': { type: 'string', default: '15014' },
        'secure-grpc-port': { type: 'string', default: '15012' },
        'zipkin-port': { type: 'string' },
        'state-dir': { type: 'string' },
        cacerts: { type: 'string' },
        'workload-cert-ttl': { type: 'string' },
        'retry-budget': { type: 'string', default: process.env.TSMESH_RETRY_BUDGET || 'on' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    console.error(`tsmesh controlplane: ${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const kubeconfig = values.kubeconfig ?? (values.config ? undefined : process.env.KUBECONFIG || undefined);
  // In a pod (istiod's Deployment from tsmesh install runs us without flags): the service account.
  const inCluster = !values.config && !kubeconfig && !!process.env.KUBERNETES_SERVICE_HOST;
  if (values.config && values.kubeconfig) {
    console.error('tsmesh controlplane: --config and --kubeconfig are two config sources; give one (a directory, or a Kubernetes API server)');
    return 2;
  }
  if (!values.config && !kubeconfig && !inCluster) {
    console.error(`tsmesh controlplane: --config <dir> or --kubeconfig <file> is required\n\n${HELP}`);
    return 2;
  }
  const kubeMode = !!kubeconfig || inCluster;
  // Like the CA port: with xDS on a free port (tests, parallel meshes), the webhooks take one too.
  const https = parseHttpsAddr(values.httpsAddr ?? (values['grpc-port'] === '0' ? ':0' : ':15017'), values.address!);
  if (!https) {
    console.error(`tsmesh controlplane: --httpsAddr: expected [host]:port or off, like :15017, got ${JSON.stringify(values.httpsAddr)}`);
    return 2;
  }
  if (inCluster && !existsSync(SERVICE_ACCOUNT_TOKEN)) {
    console.error(`tsmesh controlplane: KUBERNETES_SERVICE_HOST is set but ${SERVICE_ACCOUNT_TOKEN} is missing: run in a pod with a service account token mounted, or pass --kubeconfig <file>`);
    return 2;
  }
  if (kubeMode && values.mesh) {
    console.error(`tsmesh controlplane: --mesh is for --config mode; with --kubeconfig the mesh config is the \`istio\` ConfigMap's \`mesh\` key in the control plane's namespace (kubectl edit configmap istio -n istio-system)`);
    return 2;
  }
  if (kubeconfig && !existsSync(kubeconfig)) {
    console.error(`tsmesh controlplane: kubeconfig ${kubeconfig} not found; point --kubeconfig (or KUBECONFIG) at your cluster's kubeconfig`);
    return 2;
  }
  if (values.config && (!existsSync(values.config) || !statSync(values.config).isDirectory())) {
    console.error(`tsmesh controlplane: ${values.config} is not a directory; create it or point --config at your YAML`);
    return 2;
  }
  if (values.mesh && !existsSync(values.mesh)) {
    console.error(`tsmesh controlplane: mesh config ${values.mesh} not found`);
    return 2;
  }
  let ttlSeconds: number | undefined;
  if (values['workload-cert-ttl'] !== undefined) {
    const ms = durationMsOf(values['workload-cert-ttl']);
    if (ms === undefined || ms < 1000) {
      console.error(`tsmesh controlplane: --workload-cert-ttl: expected a duration of at least 1s like 24h or 90s, got ${JSON.stringify(values['workload-cert-ttl'])}`);
      return 2;
    }
    ttlSeconds = Math.round(ms / 1000);
  }
  const retryBudget = values['retry-budget'];
  if (retryBudget !== 'on' && retryBudget !== 'off') {
    console.error(`tsmesh controlplane: --retry-budget (or TSMESH_RETRY_BUDGET): expected on or off, got ${JSON.stringify(retryBudget)}`);
    return 2;
  }
  const zipkinFlag = values['zipkin-port'];
  if (zipkinFlag !== undefined && zipkinFlag !== 'off' && !/^\d+$/.test(zipkinFlag)) {
    console.error(`tsmesh controlplane: --zipkin-port: expected a port number, 0 or off, got ${JSON.stringify(zipkinFlag)}`);
    return 2;
  }
  // Like the CA port: with xDS on a free port (tests, parallel meshes), the collector takes one too.
  const zipkinPort = zipkinFlag === 'off' ? undefined : zipkinFlag !== undefined ? Number(zipkinFlag) : values['grpc-port'] === '0' ? 0 : 9411;
  let kube: Awaited<ReturnType<typeof connectKube>> | undefined;
  if (kubeMode) {
    try {
      kube = await connectKube(kubeconfig, values.istioNamespace ?? process.env.POD_NAMESPACE, values.revision ?? process.env.REVISION, !values.cacerts);
    } catch (e) {
      console.error(`tsmesh controlplane: ${(e as Error).message}`);
      return 1;
    }
  }
  const cp = new ControlPlane<any>({
    ...(kube ? kube.controlPlaneOptions() : {}),
    zipkinPort,
    zipkinFallback: zipkinFlag === undefined,
    defaultRetryBudget: retryBudget === 'on',
    secureGrpcPort: Number(values['secure-grpc-port']),
    stateDir: values['state-dir'],
    cacertsDir: values.cacerts,
    workloadCertTtlSeconds: ttlSeconds,
    configDir: values.config,
    meshFile: values.mesh,
    address: values.address,
    grpcPort: Number(values['grpc-port']),
    httpPort: Number(values['http-port']),
  });
  try {
    await cp.start();
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const hint = err.code === 'EADDRINUSE' || /address already in use|No address added/i.test(err.message) ? ' (port in use: pick others with --grpc-port / --http-port / --secure-grpc-port)' : '';
    console.error(`tsmesh controlplane: cannot start: ${err.message}${hint}`);
    await cp.close().catch(() => undefined);
    await kube?.close().catch(() => undefined);
    return 1;
  }
  kube?.attach(cp);
  let webhooks: { close(): Promise<void> } | undefined;
  if (kube && https !== 'off') {
    try {
      webhooks = await startWebhooks(kube, cp, values.cacerts, https);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      const hint = err.code === 'EADDRINUSE' ? ' (port in use: pick another with --httpsAddr, or off)' : '';
      console.error(`tsmesh controlplane: cannot start the admission webhooks on ${https.host}:${https.port}: ${err.message}${hint}`);
      await kube.close().catch(() => undefined);
      await cp.close().catch(() => undefined);
      return 1;
    }
  }
  const zipkin = cp.zipkin ? `, zipkin ${values.address}:${cp.zipkin.port}` : '';
  console.log(`tsmesh controlplane ready: xds grpc ${values.address}:${cp.grpcPort}, http ${values.address}:${cp.httpPort}, secure grpc ${values.address}:${cp.secureGrpcPort}, ${cp.store.all().length} resources from ${kube ? kube.client.server : values.config}${zipkin}`);
  await new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      console.log(`tsmesh controlplane: ${sig}, closing xDS streams`);
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  await webhooks?.close();
  await kube?.close();
  await cp.close();
  return 0;
}

/**
 * istiod's webhook server: the serving certificate from the same CA the control plane loaded
 * (its state dir or plug-in certs), injection settings from the live mesh config.
 */
async function startWebhooks(kube: Awaited<ReturnType<typeof connectKube>>, cp: { stateDir: string }, cacertsDir: string | undefined, at: { host: string; port: number }) {
  const [{ CertificateAuthority }, { startAdmissionWebhooks }, { validateHandler }] = await Promise.all([import('../ca/authority.ts'), import('../kube/webhook/start.ts'), import('../kube/webhook/validate.ts')]);
  // The control plane's own CA object when it exposes one (e.g. loaded from a cluster Secret);
  // else the same files it loaded (state dir or plug-in certs), which give the same root.
  const own = (cp as { authority?: Authority }).authority;
  const ca = own ?? (await CertificateAuthority.load({ stateDir: cp.stateDir, cacertsDir, trustDomain: kube.mesh.trustDomain }));
  const hooks = await startAdmissionWebhooks({
    client: kube.client,
    ca,
    namespace: kube.namespace,
    ...(kube.revision ? { revision: kube.revision } : {}),
    host: at.host,
    port: at.port,
    mesh: () => kube.currentMesh(),
    validate: validateHandler,
    log: (l) => console.log(l),
  });
  console.log(`tsmesh controlplane: admission webhooks on https://${at.host}:${hooks.port} (/inject, /validate)`);
  return hooks;
}
