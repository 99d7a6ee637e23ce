/**
 * gRPC echo client: each line read on stdin is sent as one Echo call, and each answer is printed
 * as one JSON line: `{"ok":true,"reply":{...}}` or `{"ok":false,"code":14,"details":"..."}`.
 * Exits when stdin ends. A line may carry request metadata after a tab: `hello\tx-user=alice`
 * (tab-separated name=value pairs), e.g. the header a DestinationRule's consistentHash reads.
 *
 *   node --import tsx samples/grpc-echo/client.ts <target> [--xds-credentials] [--timeout-ms N]
 *
 * A target `xds:///echo.default.svc.cluster.local:7070` makes it a proxyless mesh client
 * (bootstrap from GRPC_XDS_BOOTSTRAP, as `tsmesh agent --grpc-bootstrap` writes it);
 * --xds-credentials uses XdsChannelCredentials, so the control plane decides mTLS (plaintext
 * fallback); without it the channel is plaintext. It runs as its own process because gRPC's xDS
 * client keeps retrying its control plane for as long as the process lives.
 */
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { XdsChannelCredentials, register as registerXds } from '@grpc/grpc-js-xds';
import { loadEchoPackage, type EchoResponse } from './main.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { 'xds-credentials': { type: 'boolean', default: false }, 'timeout-ms': { type: 'string', default: '5000' } },
});
const target = positionals[0];
if (!target) {
  process.stderr.write('usage: client.ts <target> [--xds-credentials] [--timeout-ms N]\n');
  process.exit(2);
}
registerXds();
const insecure = grpc.credentials.createInsecure();
const Echo = loadEchoPackage().echo.EchoService;
const client = new Echo(target, values['xds-credentials'] ? new XdsChannelCredentials(insecure) : insecure);
const timeoutMs = Number(values['timeout-ms']);

function call(line: string): Promise<Record<string, unknown>> {
  const [message, ...pairs] = line.split('\t');
  const metadata = new grpc.Metadata();
  for (const p of pairs) {
    const eq = p.indexOf('=');
    if (eq > 0) metadata.add(p.slice(0, eq), p.slice(eq + 1));
  }
  return new Promise((resolve) => {
    client.Echo({ message }, metadata, { deadline: Date.now() + timeoutMs }, (err: grpc.ServiceError | null, reply: EchoResponse) =>
      resolve(err ? { ok: false, code: err.code, details: err.details } : { ok: true, reply }),
    );
  });
}

for await (const line of createInterface({ input: process.stdin })) {
  process.stdout.write(JSON.stringify(await call(line)) + '\n');
}
client.close();
process.exit(0);
