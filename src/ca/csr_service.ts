/**
 * The gRPC face of the CA: istio.v1.auth.IstioCertificateService/CreateCertificate, with
 * (de)serializers built by protobufjs from istioca.proto (Istio's own messages and field
 * numbers), so Istio's agents and ours speak to either CA. Both sides use this module: the
 * control plane mounts CERTIFICATE_SERVICE, the agent calls createCertificate().
 */
import * as grpc from '@grpc/grpc-js';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { PROTO_INCLUDE_DIRS } from '../xds/protos.ts';
import { fromStruct, toStruct } from '../xds/struct.ts';

/** Full service name; the method path is derived from it. */
export const CERTIFICATE_SERVICE_NAME = 'istio.v1.auth.IstioCertificateService';

/** istio.v1.auth.IstioCertificateRequest, with its Struct metadata as plain JSON. */
export interface IstioCertificateRequest {
  /** PEM-encoded PKCS#10 CSR. */
  csr: string;
  /** Requested lifetime in seconds; 0 or negative means the CA's default. */
  validity_duration: number;
  metadata?: Record<string, unknown>;
}

/** istio.v1.auth.IstioCertificateResponse: PEM certificates, leaf first and root last. */
export interface IstioCertificateResponse {
  cert_chain: string[];
}

const PROTO_FILE = join(fileURLToPath(new URL('.', import.meta.url)), 'istioca.proto');

let types: { req: protobuf.Type; res: protobuf.Type } | undefined;

/** Loads istioca.proto once; it is tiny, unlike the Envoy root. */
function loadTypes(): { req: protobuf.Type; res: protobuf.Type } {
  if (types) return types;
  const root = new protobuf.Root();
  root.resolvePath = (origin, target) => {
    // protobufjs bundles google/protobuf/struct.proto; the bare name hits that copy.
    if (target.startsWith('google/protobuf/') && target in (protobuf as any).common) return target;
    for (const dir of PROTO_INCLUDE_DIRS) {
      const p = join(dir, target);
      if (existsSync(p)) return p;
    }
    return protobuf.util.path.resolve(origin, target);
  };
  root.loadSync(PROTO_FILE, { keepCase: true });
  root.resolveAll();
  types = {
    req: root.lookupType('istio.v1.auth.IstioCertificateRequest'),
    res: root.lookupType('istio.v1.auth.IstioCertificateResponse'),
  };
  return types;
}

const TO_OBJECT: protobuf.IConversionOptions = { longs: Number, defaults: true, arrays: true, objects: true };

function toBuffer(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

function serializeRequest(req: IstioCertificateRequest): Buffer {
  const { req: t } = loadTypes();
  const obj: Record<string, unknown> = { csr: req.csr, validity_duration: req.validity_duration };
  if (req.metadata) obj.metadata = toStruct(req.metadata);
  return toBuffer(t.encode(t.fromObject(obj)).finish());
}

function deserializeRequest(bytes: Buffer): IstioCertificateRequest {
  const { req: t } = loadTypes();
  const msg = t.decode(bytes);
  const obj = t.toObject(msg, { ...TO_OBJECT, oneofs: false }) as Record<string, any>;
  const out: IstioCertificateRequest = { csr: obj.csr, validity_duration: Number(obj.validity_duration) };
  const md = (msg as any).metadata;
  if (md) out.metadata = fromStruct(t.lookupType('google.protobuf.Struct').toObject(md, { longs: Number }));
  return out;
}

function serializeResponse(res: IstioCertificateResponse): Buffer {
  const { res: t } = loadTypes();
  return toBuffer(t.encode(t.fromObject({ cert_chain: res.cert_chain })).finish());
}

function deserializeResponse(bytes: Buffer): IstioCertificateResponse {
  const { res: t } = loadTypes();
  return t.toObject(t.decode(bytes), TO_OBJECT) as IstioCertificateResponse;
}

/** The service definition, for `server.addService(CERTIFICATE_SERVICE, handlers)`. */
export const CERTIFICATE_SERVICE = {
  CreateCertificate: {
    path: `/${CERTIFICATE_SERVICE_NAME}/CreateCertificate`,
    requestStream: false,
    responseStream: false,
    requestSerialize: serializeRequest,
    requestDeserialize: deserializeRequest,
    responseSerialize: serializeResponse,
    responseDeserialize: deserializeResponse,
    originalName: 'createCertificate',
  } as grpc.MethodDefinition<IstioCertificateRequest, IstioCertificateResponse>,
} satisfies grpc.ServiceDefinition;

/** Server-side handlers for CERTIFICATE_SERVICE. */
export interface CertificateServiceHandlers extends grpc.UntypedServiceImplementation {
  CreateCertificate: grpc.handleUnaryCall<IstioCertificateRequest, IstioCertificateResponse>;
}

/** A typed client stub (what makeGenericClientConstructor builds, with its method typed). */
export interface CertificateServiceClient extends grpc.Client {
  CreateCertificate(
    req: IstioCertificateRequest,
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    cb: (err: grpc.ServiceError | null, res?: IstioCertificateResponse) => void,
  ): grpc.ClientUnaryCall;
}

const CertificateServiceClientConstructor = grpc.makeGenericClientConstructor(
  CERTIFICATE_SERVICE,
  'IstioCertificateService',
) as unknown as new (address: string, credentials: grpc.ChannelCredentials, options?: grpc.ClientOptions) => CertificateServiceClient;

/** Opens a client stub to the CA at `address` ("host:port"). */
export function newCertificateClient(address: string, credentials: grpc.ChannelCredentials, options?: grpc.ClientOptions): CertificateServiceClient {
  return new CertificateServiceClientConstructor(address, credentials, options);
}

/** What an agent sends: its CSR, the lifetime it wants, and its workload token. */
export interface CreateCertificateOptions {
  csr: string;
  /** Requested lifetime; the CA may cap it. Omit for the CA's default. */
  validitySeconds?: number;
  /** Workload token, sent as `authorization: Bearer <token>` as Istio's agents do. */
  token: string;
  /** Deadline for the call in milliseconds (default 10 s). */
  timeoutMs?: number;
}

/**
 * Calls CreateCertificate and resolves with the PEM chain (leaf first, root last). Rejects with
 * the grpc.ServiceError (its `code` says UNAUTHENTICATED, PERMISSION_DENIED, ...).
 */
export function createCertificate(client: CertificateServiceClient, opts: CreateCertificateOptions): Promise<string[]> {
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${opts.token}`);
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  return new Promise((resolve, reject) => {
    client.CreateCertificate({ csr: opts.csr, validity_duration: opts.validitySeconds ?? 0 }, md, { deadline }, (err, res) => {
      if (err) reject(err);
      else if (!res || res.cert_chain.length === 0) reject(new Error('CreateCertificate returned an empty certificate chain'));
      else resolve(res.cert_chain);
    });
  });
}
