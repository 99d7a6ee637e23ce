/**
 * The agent as `tsmesh proxy` runs it in sidecar mode (pilot-agent beside Envoy): its SDS
 * socket in a private temporary directory (mode 0700, removed on close), which the generated
 * bootstrap's `sds-grpc` cluster names. Istio's path is ./var/run/secrets/workload-spiffe-uds/socket;
 * a temporary directory lets several sidecars share a host without colliding.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkloadAgent, type WorkloadAgentOptions } from './workload_agent.ts';

export interface SidecarAgent {
  agent: WorkloadAgent;
  /** The SDS socket path (for the bootstrap's sds-grpc cluster). */
  socket: string;
  close(): Promise<void>;
}

/**
 * Serves SDS on `socket` (a bootstrap's sds-grpc path: its directory must exist), or on a socket
 * in a private directory of its own, and starts fetching the certificate.
 */
export async function startSidecarAgent(opts: WorkloadAgentOptions, socketPath?: string): Promise<SidecarAgent> {
  const dir = socketPath ? undefined : mkdtempSync(join(tmpdir(), 'tsmesh-agent-'));
  const socket = socketPath ?? join(dir!, 'socket');
  const agent = new WorkloadAgent(opts);
  const close = async () => {
    await agent.close();
    rmSync(dir ?? socket, { recursive: true, force: true });
  };
  try {
    // A socket file left by an earlier run of this pod would make the bind fail.
    if (socketPath) rmSync(socketPath, { force: true });
    await agent.serveSds(socket);
  } catch (e) {
    await close();
    throw e;
  }
  agent.start();
  return { agent, socket, close };
}
