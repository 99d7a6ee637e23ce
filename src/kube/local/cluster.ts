/**
 * A real Kubernetes control plane on loopback, for the tests and `tsmesh demo --kube`: etcd,
 * Kubernetes' own kube-apiserver and (optionally) kube-controller-manager, with a fresh PKI and an
 * admin kubeconfig. There is no scheduler and no kubelet: whoever plays the node binds pods and
 * writes their status through the API, as a kubelet would.
 *
 *   const c = await startLocalCluster({ dir, controllerManager: true });
 *   // KUBECONFIG=c.kubeconfig kubectl get pods -A
 *   await c.close();
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../../demo/ports.ts';
import { defaultKubeBinDir, findKubeBinaries, type KubeBinaries } from './bin_dir.ts';
import { writeKubeconfig } from './kubeconfig.ts';
import { makeClusterPki, type ClusterPki } from './pki.ts';
import { LocalProcess } from './process.ts';
import { probe, waitUntilReady } from './probe.ts';

export interface LocalClusterOptions {
  /** Where the PKI, etcd's data, kubeconfigs and logs go (created; not removed by close()). */
  dir: string;
  /** Defaults to defaultKubeBinDir() ($TSMESH_KUBE_BIN_DIR or the build script's cache). */
  binDir?: string;
  /** Also run kube-controller-manager (Deployments make ReplicaSets and Pods, EndpointSlices, ...). */
  controllerManager?: boolean;
  /** Progress lines ("etcd ready in 1.2 s"). */
  log?: (line: string) => void;
  /** Bound for each program to become ready; 90 s by default (2 busy cores). */
  readyTimeoutMs?: number;
}

export interface LocalCluster {
  dir: string;
  /** https://127.0.0.1:<port> */
  server: string;
  /** Admin kubeconfig (client certificate in group system:masters). */
  kubeconfig: string;
  /** The cluster CA (it signs the API server's serving certificate and the client certificates). */
  caPem: string;
  binaries: KubeBinaries;
  pki: ClusterPki;
  /** The API server's service-account issuer (`iss` of the tokens it signs). */
  serviceAccountIssuer: string;
  /** Log file of each program, by name. */
  logs: Record<string, string>;
  /** Stops kube-apiserver (etcd and the controller manager keep running). */
  stopApiServer(): Promise<void>;
  /** Starts kube-apiserver again on the same port with the same etcd; resolves when /readyz is ok. */
  startApiServer(): Promise<void>;
  /** stopApiServer() then startApiServer(). */
  restartApiServer(): Promise<void>;
  /** Stops every program (controller manager, API server, etcd). */
  close(): Promise<void>;
}

/** The Service range (Kubernetes' kubeadm default is 10.96.0.0/12; /16 is plenty here). */
export const SERVICE_CIDR = '10.96.0.0/16';
const SERVICE_ACCOUNT_ISSUER = 'https://kubernetes.default.svc.cluster.local';

const LOOPBACK = '127.0.0.1';

/** True when the log says the port was taken between freePort() and the program's bind. */
const portTaken = (p: LocalProcess) => /address already in use/i.test(p.tail(50));

export async function startLocalCluster(o: LocalClusterOptions): Promise<LocalCluster> {
  const log = o.log ?? (() => {});
  const timeoutMs = o.readyTimeoutMs ?? 90_000;
  const binaries = findKubeBinaries(o.binDir ?? defaultKubeBinDir());
  mkdirSync(o.dir, { recursive: true, mode: 0o700 });
  const logDir = join(o.dir, 'logs');
  mkdirSync(logDir, { recursive: true });
  const logs: Record<string, string> = {};
  const running: LocalProcess[] = [];
  let closing = false;
  const run = (name: string, file: string, args: string[]) => {
    if (closing) throw new Error(`the local cluster in ${o.dir} is closed; ${name} not started`);
    logs[name] = join(logDir, `${name}.log`);
    const p = new LocalProcess(name, file, args, logs[name]!);
    running.push(p);
    return p;
  };
  const forget = (p: LocalProcess) => {
    const i = running.indexOf(p);
    if (i >= 0) running.splice(i, 1);
  };
  const timed = async <T>(what: string, f: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const r = await f();
    log(`${what} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    return r;
  };
  const stopped = new Set<LocalProcess>();
  const stopAll = async () => {
    for (const p of [...running].reverse()) {
      stopped.add(p);
      await p.stop();
    }
  };

  try {
    const pki = await timed('certificates made', () => makeClusterPki(join(o.dir, 'pki')));
    const admin = pki.clients.admin;
    const tls = { ca: pki.caPem, cert: admin.certPem, key: admin.keyPem };

    // etcd: a random pair of loopback ports, retried if another process took one first.
    const etcdArgs = (client: number, peer: number) => [
      '--name=default',
      `--data-dir=${join(o.dir, 'etcd')}`,
      `--listen-client-urls=http://${LOOPBACK}:${client}`,
      `--advertise-client-urls=http://${LOOPBACK}:${client}`,
      `--listen-peer-urls=http://${LOOPBACK}:${peer}`,
      `--initial-advertise-peer-urls=http://${LOOPBACK}:${peer}`,
      `--initial-cluster=default=http://${LOOPBACK}:${peer}`,
      '--logger=zap',
    ];
    let etcdUrl = '';
    await timed('etcd ready', async () => {
      for (let attempt = 1; ; attempt++) {
        const client = await freePort(LOOPBACK);
        const peer = await freePort(LOOPBACK);
        const etcd = run('etcd', binaries.etcd, etcdArgs(client, peer));
        etcdUrl = `http://${LOOPBACK}:${client}`;
        try {
          await waitUntilReady(etcd, '/health', async () => /"health":\s*"true"/.test((await probe(`${etcdUrl}/health`)).body), timeoutMs);
          return;
        } catch (e) {
          await etcd.stop();
          forget(etcd);
          if (attempt < 3 && portTaken(etcd)) continue;
          throw e;
        }
      }
    });

    let port = 0;
    const apiserverArgs = () => [
      `--etcd-servers=${etcdUrl}`,
      `--bind-address=${LOOPBACK}`,
      `--advertise-address=${LOOPBACK}`,
      // The lease reconciler would publish the advertise address as the endpoint of the
      // `kubernetes` Service, and endpoints may not be loopback addresses (the API server refuses
      // to start): the Service stays without endpoints (nothing in a pod dials it here).
      '--endpoint-reconciler-type=none',
      `--secure-port=${port}`,
      `--cert-dir=${join(o.dir, 'apiserver-certs')}`,
      `--tls-cert-file=${pki.apiserverCert}`,
      `--tls-private-key-file=${pki.apiserverKey}`,
      `--client-ca-file=${pki.caCert}`,
      `--service-cluster-ip-range=${SERVICE_CIDR}`,
      `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
      `--service-account-key-file=${pki.saPub}`,
      `--service-account-signing-key-file=${pki.saKey}`,
      // istio-ca: the audience Istio's agents ask for, checked by TokenReview in the CA.
      `--api-audiences=${SERVICE_ACCOUNT_ISSUER},istio-ca`,
      '--authorization-mode=Node,RBAC',
      // Both webhook plugins are on by default; named so that a reader sees the mesh needs them.
      '--enable-admission-plugins=MutatingAdmissionWebhook,ValidatingAdmissionWebhook',
      // Istio's init container needs NET_ADMIN; the demo's node runs pods as processes anyway.
      '--allow-privileged=true',
      `--requestheader-client-ca-file=${pki.frontProxyCaCert}`,
      '--requestheader-allowed-names=front-proxy-client',
      '--requestheader-username-headers=X-Remote-User',
      '--requestheader-group-headers=X-Remote-Group',
      '--requestheader-extra-headers-prefix=X-Remote-Extra-',
      `--proxy-client-cert-file=${pki.frontProxyClientCert}`,
      `--proxy-client-key-file=${pki.frontProxyClientKey}`,
      '--profiling=false',
    ];
    let apiserver: LocalProcess | undefined;
    const readyz = async () => {
      const r = await probe(`https://${LOOPBACK}:${port}/readyz`, tls);
      return r.status === 200 && r.body.trim() === 'ok';
    };
    const startApiServer = async (pickPort: boolean) => {
      for (let attempt = 1; ; attempt++) {
        if (pickPort) port = await freePort(LOOPBACK);
        const p = run('kube-apiserver', binaries.kubeApiserver, apiserverArgs());
        apiserver = p;
        try {
          await waitUntilReady(p, '/readyz', readyz, timeoutMs);
          return;
        } catch (e) {
          await p.stop();
          forget(p);
          apiserver = undefined;
          // A restart keeps its port: wait for the old socket to go rather than moving.
          if (attempt < 3 && portTaken(p)) {
            if (!pickPort) await new Promise((r) => setTimeout(r, 1000));
            continue;
          }
          throw e;
        }
      }
    };
    await timed('kube-apiserver ready', () => startApiServer(true));
    const server = `https://${LOOPBACK}:${port}`;
    const kubeconfig = writeKubeconfig(join(o.dir, 'admin.kubeconfig'), {
      name: 'tsmesh-local',
      server,
      caPem: pki.caPem,
      user: 'kubernetes-admin',
      ...admin,
    });

    // kube-controller-manager exits when the API server goes away while it starts its
    // controllers (a restartApiServer() right after start): restarted, as a kubelet restarts a
    // static pod, until close().
    let kcmRestart: NodeJS.Timeout | undefined;
    if (o.controllerManager) {
      const kcm = pki.clients['kube-controller-manager'];
      const kcmKubeconfig = writeKubeconfig(join(o.dir, 'controller-manager.kubeconfig'), {
        name: 'tsmesh-local',
        server,
        caPem: pki.caPem,
        user: 'system:kube-controller-manager',
        ...kcm,
      });
      const startControllerManager = async (): Promise<void> => {
        for (let attempt = 1; ; attempt++) {
          const kcmPort = await freePort(LOOPBACK);
          if (closing) return;
          const p = run('kube-controller-manager', binaries.kubeControllerManager, [
            `--kubeconfig=${kcmKubeconfig}`,
            `--authentication-kubeconfig=${kcmKubeconfig}`,
            `--authorization-kubeconfig=${kcmKubeconfig}`,
            `--bind-address=${LOOPBACK}`,
            `--secure-port=${kcmPort}`,
            // Served with the API server's certificate (127.0.0.1 is in it), so the probe verifies it.
            `--tls-cert-file=${pki.apiserverCert}`,
            `--tls-private-key-file=${pki.apiserverKey}`,
            `--client-ca-file=${pki.caCert}`,
            // The on-by-default set (v1.37 has no cloud controllers left in it).
            '--controllers=*',
            '--use-service-account-credentials=true',
            `--root-ca-file=${pki.caCert}`,
            `--service-account-private-key-file=${pki.saKey}`,
            `--cluster-signing-cert-file=${pki.caCert}`,
            `--cluster-signing-key-file=${pki.caKey}`,
            `--service-cluster-ip-range=${SERVICE_CIDR}`,
            '--cluster-name=tsmesh-local',
            // One replica: no need to wait for a lease.
            '--leader-elect=false',
            '--profiling=false',
          ]);
          try {
            await waitUntilReady(p, '/healthz', async () => (await probe(`https://${LOOPBACK}:${kcmPort}/healthz`, tls)).status === 200, timeoutMs);
          } catch (e) {
            await p.stop();
            forget(p);
            if (attempt < 3 && portTaken(p)) continue;
            throw e;
          }
          void p.exited.then((code) => {
            forget(p);
            // close() stopped it (or is about to): never start another.
            if (closing || stopped.has(p)) return;
            log(`kube-controller-manager exited (code ${code}); restarting it (log: ${p.logFile})`);
            const again = () => {
              kcmRestart = undefined;
              if (closing) return;
              startControllerManager().catch((e: Error) => {
                log(`kube-controller-manager did not start again: ${e.message.split('\n')[0]}; retrying`);
                if (!closing) kcmRestart = setTimeout(again, 2000);
              });
            };
            kcmRestart = setTimeout(again, 1000);
          });
          return;
        }
      };
      await timed('kube-controller-manager ready', startControllerManager);
      // Pods are refused until their namespace's `default` ServiceAccount exists (the
      // ServiceAccount admission plugin), and the controller manager makes it a moment after it
      // starts: wait for it in `default`, so a pod applied right after start is accepted.
      await timed('default ServiceAccount made', () =>
        waitUntilReady(apiserver!, 'the default ServiceAccount', async () => (await probe(`${server}/api/v1/namespaces/default/serviceaccounts/default`, tls)).status === 200, timeoutMs),
      );
    }

    const stopApiServer = async () => {
      const p = apiserver;
      apiserver = undefined;
      if (!p) return;
      await p.stop();
      forget(p);
    };
    return {
      dir: o.dir,
      server,
      kubeconfig,
      caPem: pki.caPem,
      binaries,
      pki,
      serviceAccountIssuer: SERVICE_ACCOUNT_ISSUER,
      logs,
      stopApiServer,
      startApiServer: async () => {
        if (apiserver) throw new Error('kube-apiserver is already running; stop it first');
        await timed('kube-apiserver ready', () => startApiServer(false));
      },
      restartApiServer: async () => {
        await stopApiServer();
        await timed('kube-apiserver ready', () => startApiServer(false));
      },
      close: async () => {
        closing = true;
        clearTimeout(kcmRestart);
        await stopAll();
      },
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}
