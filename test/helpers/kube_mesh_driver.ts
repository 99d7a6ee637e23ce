/**
 * Runs `tsmesh demo --kube`'s startKubeDemo inside a test's network namespace for
 * test/helpers/kube_mesh.ts, and takes commands on stdin (one JSON object a line) for what a
 * test does that a user would do with kill or a restart:
 *   {"id":1,"op":"kill","i":0,"signal":"SIGKILL"}   {"id":2,"op":"start","i":0}
 *   {"id":3,"op":"restartApiServer"}                 {"id":4,"op":"stop"}
 * Replies and the ready line are prefixed with MARK; everything else on stdout is the demo's.
 *   node --import tsx kube_mesh_driver.ts <stateDir> '{"replicas":2}'
 */
import { createInterface } from 'node:readline';
import { startKubeDemo } from '../../src/demo/kube.ts';
import { REPO } from './processes.ts';

const MARK = '@@kube-mesh';
const [stateDir, json] = process.argv.slice(2);
const opts = JSON.parse(json ?? '{}') as { replicas?: number; gateway?: boolean };
const demo = startKubeDemo({ repoRoot: REPO, stateDir: stateDir!, out: process.stdout, handleSignals: true, ...opts });
const send = (o: object) => process.stdout.write(`${MARK} ${JSON.stringify(o)}\n`);

void demo.exitCode.then((code) => process.exit(code));
const ok = await demo.started;
if (ok) send({ ready: true, kubeconfig: demo.kubeconfig(), gatewayUrl: demo.gatewayUrl() });

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const cmd = JSON.parse(line) as { id: number; op: string; i?: number; signal?: NodeJS.Signals };
  const run = async () => {
    switch (cmd.op) {
      case 'kill':
        return demo.controlPlane(cmd.i ?? 0).kill(cmd.signal);
      case 'start':
        return demo.controlPlane(cmd.i ?? 0).start();
      case 'restartApiServer':
        return demo.restartApiServer();
      case 'stop':
        return demo.stop();
      default:
        throw new Error(`unknown op ${cmd.op}`);
    }
  };
  run().then(
    () => send({ id: cmd.id, ok: true }),
    (e: Error) => send({ id: cmd.id, ok: false, error: e.message }),
  );
});
// The test process went away: stop everything.
rl.on('close', () => void demo.stop());
