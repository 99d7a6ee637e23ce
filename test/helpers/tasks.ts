/**
 * What tests of Istio's tasks in the demo share: the tsmesh CLI run as a user runs it (a process
 * of its own), the real curl those tasks call, and the demo's pods as demo.json lists them.
 */
import { execFile, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { tsmeshCommand } from '../../src/common/self_command.ts';
import { readState, type DemoPodState } from '../../src/demo/state.ts';
import type { IstioDemo } from './demo.ts';
import { until } from './poll.ts';
import { REPO } from './processes.ts';

/** Istio's tasks run the real curl (scripts/pretest.mjs installs it as root). */
export const NO_CURL = spawnSync('curl', ['--version']).error ? 'curl is not installed: sudo apt-get install -y curl' : false;

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** `tsmesh <args>` in a process of its own, with no proxy inherited from the environment. */
export function runTsmesh(args: string[], timeoutMs = 60_000): Promise<Run> {
  const cmd = tsmeshCommand(args);
  return new Promise((resolve) => {
    execFile(cmd.command, cmd.args, { cwd: REPO, timeout: timeoutMs, env: { ...process.env, http_proxy: '', HTTP_PROXY: '' } }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as NodeJS.ErrnoException).code === 'number' ? Number((err as NodeJS.ErrnoException).code) : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

export function demoPods(demo: IstioDemo): DemoPodState[] {
  return readState(join(demo.stateDir, 'demo.json'))?.pods ?? [];
}

export function readyPod(demo: IstioDemo, namespace: string, name: string, timeoutMs = 120_000): Promise<DemoPodState> {
  return until(() => demoPods(demo).find((p) => p.namespace === namespace && p.name === name && p.ready), `pod ${namespace}/${name} ready in demo.json`, timeoutMs, 200);
}
