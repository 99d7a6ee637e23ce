/**
 * gRPC echo server (echo.EchoService from echo.proto) on @grpc/grpc-js.
 * Env: PORT (7070), SERVICE_VERSION (v1), POD_NAME (else HOSTNAME, else the host name).
 * Run: `PORT=7070 node --import tsx samples/grpc-echo/main.ts`.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { closeOnSignals, isMain, resolvePort, type BaseOptions, type Running } from '../common/server.ts';

export const PROTO_PATH = join(dirname(fileURLToPath(import.meta.url)), 'echo.proto');

export interface EchoRequest {
  message: string;
}
export interface EchoResponse {
  message: string;
  version: string;
  hostname: string;
  metadata: Record<string, string>;
  sequence: number;
}

/** The loaded package; clients (tests, demos) use `loadEchoPackage().echo.EchoService`. */
export function loadEchoPackage(): any {
  const def = protoLoader.loadSync(PROTO_PATH, { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true });
  return grpc.loadPackageDefinition(def);
}

export interface GrpcEchoOptions extends BaseOptions {
  version?: string;
  podName?: string;
}

function metadataMap(md: grpc.Metadata): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(md.getMap())) out[k] = typeof v === 'string' ? v : '';
  return out;
}

export async function start(opts: GrpcEchoOptions = {}): Promise<Running> {
  const env = opts.env ?? process.env;
  const version = opts.version ?? env.SERVICE_VERSION ?? 'v1';
  const pod = opts.podName ?? env.POD_NAME ?? env.HOSTNAME ?? hostname();
  const pkg = loadEchoPackage();
  const server = new grpc.Server();
  const reply = (message: string, md: grpc.Metadata, sequence: number): EchoResponse => ({ message, version, hostname: pod, metadata: metadataMap(md), sequence });
  const served = () => {
    const m = new grpc.Metadata();
    m.set('x-served-by', pod);
    return m;
  };

  server.addService(pkg.echo.EchoService.service, {
    Echo(call: grpc.ServerUnaryCall<EchoRequest, EchoResponse>, cb: grpc.sendUnaryData<EchoResponse>) {
      call.sendMetadata(served());
      cb(null, reply(call.request.message, call.metadata, 0));
    },
    EchoStream(call: grpc.ServerDuplexStream<EchoRequest, EchoResponse>) {
      call.sendMetadata(served());
      let seq = 0;
      call.on('data', (req: EchoRequest) => call.write(reply(req.message, call.metadata, seq++)));
      call.on('end', () => call.end());
      call.on('error', () => {});
    },
  });

  const host = opts.host ?? env.HOST ?? '0.0.0.0';
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host.includes(':') ? `[${host}]` : host}:${resolvePort(opts, env, 7070)}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
  });
  (opts.log ?? console.log)(`grpc-echo ${version} (${pod}) listening on port ${port}`);
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.forceShutdown();
        resolve();
      }),
  };
}

if (isMain(import.meta.url)) closeOnSignals(await start());
