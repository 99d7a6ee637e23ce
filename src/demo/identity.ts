/**
 * Workload identity for the demo's proxies, as Kubernetes and Istio's injector provide it: the
 * control plane's state directory (its CA root and token key) inside the demo's, a
 * service-account token per proxy (Kubernetes projects one into every pod), and the path of
 * each agent's SDS socket (the bootstrap's sds-grpc cluster names it).
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { issueWorkloadToken } from '../ca/token.ts';
import { CA_STATE_FILES } from '../ca/authority.ts';
import { CONTROLPLANE_HOST } from './plan.ts';

/** Long enough for a demo session; a pod's agent re-reads its token at every certificate request. */
const TOKEN_TTL_SECONDS = 30 * 24 * 3600;

export interface PodIdentity {
  namespace: string;
  serviceAccount: string;
  pod: string;
}

export class DemoIdentity {
  readonly controlplaneStateDir: string;
  private socketDir?: string;

  constructor(private readonly stateDir: string) {
    // Kept across demo runs: the same root of trust every time.
    this.controlplaneStateDir = join(stateDir, 'controlplane');
  }

  /**
   * Unix socket paths are limited to about 100 bytes, and a state directory can be deep: the
   * sockets live in a short private directory of their own, removed by close().
   */
  sdsSocket(stem: string): string {
    this.socketDir ??= mkdtempSync(join(tmpdir(), 'tsmesh-sds-'));
    return join(this.socketDir, `${stem}.sock`);
  }

  /** `tsmesh proxy` flags that start its agent: a fresh token, the CA's root and address. */
  async agentArgs(plan: { secureGrpcPort: number }, id: PodIdentity, stem: string): Promise<string[]> {
    const dir = join(this.stateDir, 'tokens');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const tokenFile = join(dir, `${stem}.token`);
    const token = await issueWorkloadToken(this.controlplaneStateDir, { namespace: id.namespace, serviceAccount: id.serviceAccount, podName: id.pod, ttlSeconds: TOKEN_TTL_SECONDS });
    writeFileSync(tokenFile, token, { mode: 0o600 });
    chmodSync(tokenFile, 0o600);
    return [
      '--token-file', tokenFile,
      '--ca-root-cert', join(this.controlplaneStateDir, 'ca', CA_STATE_FILES.rootCert),
      '--ca-address', `${CONTROLPLANE_HOST}:${plan.secureGrpcPort}`,
    ];
  }

  close(): void {
    if (this.socketDir) rmSync(this.socketDir, { recursive: true, force: true });
  }
}
