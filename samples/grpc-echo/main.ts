/**
 * gRPC echo server (echo.EchoService from echo.proto) on @grpc/grpc-js.
 * Env: PORT (7070), SERVICE_VERSION (v1), POD_NAME (else HOSTNAME, else the host name),
 * XDS_SERVER=true: a proxyless mesh server (Istio's echo `--xds-grpc-server`), an XdsServer from
 * @grpc/grpc-js-xds with XdsServerCredentials (plaintext fallback) whose listener, and so its
 * mTLS, comes from the control plane named in the bootstrap (GRPC_XDS_BOOTSTRAP, which
 * `tsmesh agent --grpc-bootstrap` writes). Every answer says how the caller came in
 * (transport_security) and who it is (peer_identity, its certificate's URI SANs).
 * Run: `PORT=7070 node --import tsx samples/grpc-echo/main.ts`.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { XdsServer, XdsServerCredentials, register as registerXds } from '@grpc/grpc-js-xds';
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
  /** "ssl" when the caller connected over TLS, else "insecure". */
  transportSecurity: string;
  /** The caller certificate's URI SANs (comma-separated; its SPIFFE id in the mesh), or "". */
  peerIdentity: string;
}

/** The loaded package; clients (tests, demos) use `loadEchoPackage().echo.EchoService`. */
export function loadEchoPackage(): any {
  const def = protoLoader.loadSync(PROTO_PATH, { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true });
  return grpc.loadPackageDefinition(def);
}

export interface GrpcEchoOptions extends BaseOptions {
  version?: string;
  podName?: string;
  /**
   * Serve as a proxyless xDS server (default: env XDS_SERVER === 'true'). Needs a non-zero port
   * and an IP host; start() resolves once the control plane's listener arrived and it serves.
   */
  xds?: boolean;
}

function metadataMap(md: grpc.Metadata): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(md.getMap())) out[k] = typeof v === 'string' ? v : '';
  return out;
}

type CallInfo = Pick<grpc.ServerUnaryCall<unknown, unknown>, 'metadata' | 'getAuthContext'>;

/** How the caller reached us: TLS or not, and the URI SANs of its certificate. */
function peerOf(call: CallInfo): Pick<EchoResponse, 'transportSecurity' | 'peerIdentity'> {
  const auth = call.getAuthContext();
  const sans = auth.sslPeerCertificate?.subjectaltname ?? '';
  const uris = sans
    .split(', ')
    .filter((s) => s.startsWith('URI:'))
    .map((s) => s.slice(4));
  return { transportSecurity: auth.transportSecurityType ?? 'insecure', peerIdentity: uris.join(',') };
}

export async function start(opts: GrpcEchoOptions = {}): Promise<Running> {
  const env = opts.env ?? process.env;
  const version = opts.version ?? env.SERVICE_VERSION ?? 'v1';
  const pod = opts.podName ?? env.POD_NAME ?? env.HOSTNAME ?? hostname();
  const pkg = loadEchoPackage();
  const xds = opts.xds ?? env.XDS_SERVER === 'true';
  // Registers gRPC's xDS HTTP filters (the router): without them every listener is NACKed.
  if (xds) registerXds();
  const server = xds ? new XdsServer() : new grpc.Server();
  const reply = (message: string, call: CallInfo, sequence: number): EchoResponse => ({ message, version, hostname: pod, metadata: metadataMap(call.metadata), sequence, ...peerOf(call) });
  const served = () => {
    const m = new grpc.Metadata();
    m.set('x-served-by', pod);
    return m;
  };

  server.addService(pkg.echo.EchoService.service, {
    Echo(call: grpc.ServerUnaryCall<EchoRequest, EchoResponse>, cb: grpc.sendUnaryData<EchoResponse>) {
      call.sendMetadata(served());
      cb(null, reply(call.request.message, call, 0));
    },
    EchoStream(call: grpc.ServerDuplexStream<EchoRequest, EchoResponse>) {
      call.sendMetadata(served());
      let seq = 0;
      call.on('data', (req: EchoRequest) => call.write(reply(req.message, call, seq++)));
      call.on('end', () => call.end());
      call.on('error', () => {});
    },
  });

  const host = opts.host ?? env.HOST ?? '0.0.0.0';
  const insecure = grpc.ServerCredentials.createInsecure();
  const port = await new Promise<number>((resolve, reject) => {
    // An XdsServer calls back only once it serves, i.e. after its listener came from xDS.
    server.bindAsync(`${host.includes(':') ? `[${host}]` : host}:${resolvePort(opts, env, 7070)}`, xds ? new XdsServerCredentials(insecure) : insecure, (err, p) => (err ? reject(err) : resolve(p)));
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
