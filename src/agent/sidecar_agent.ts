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

/** Creates the socket directory, serves SDS there and starts fetching the certificate. */
export async function startSidecarAgent(opts: WorkloadAgentOptions): Promise<SidecarAgent> {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-agent-'));
  const socket = join(dir, 'socket');
  const agent = new WorkloadAgent(opts);
  const close = async () => {
    await agent.close();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await agent.serveSds(socket);
  } catch (e) {
    await close();
    throw e;
  }
  agent.start();
  return { agent, socket, close };
}
