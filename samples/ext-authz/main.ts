/**
 * Istio's sample external authorizer (samples/extauthz/cmd/extauthz in Istio), in TypeScript:
 * the HTTP check API on port 8000 and envoy.service.auth.v3.Authorization/Check over gRPC on
 * port 9000, for Envoy's ext_authz filter and Istio's CUSTOM AuthorizationPolicy.
 *
 * A request is allowed when it carries `x-ext-authz: allow`; over gRPC, a request without that
 * header is also allowed when the caller's principal ends in `/sa/<ALLOW_SERVICE_ACCOUNT>`
 * (default `a`). Every answer carries `x-ext-authz-check-result: allowed|denied`,
 * `x-ext-authz-check-received` (what the check looked like: the HTTP request line, headers and
 * body; over gRPC the CheckRequest's attributes as JSON) and
 * `x-ext-authz-additional-header-override` (HTTP: the request's own value; gRPC:
 * `grpc-additional-header-override-value`). A denial is 403 with Istio's text. As in Istio's
 * sample, the gRPC server speaks the v3 API (the v2 API is gone from Envoy).
 *
 * Env: PORT (HTTP, default 8000), GRPC_PORT (default 9000), HOST, ALLOW_SERVICE_ACCOUNT.
 * Run: `node --import tsx samples/ext-authz/main.ts`.
 */
import http from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { closeOnSignals, isMain, listen, resolvePort, type BaseOptions, type Running } from '../common/server.ts';

export const CHECK_HEADER = 'x-ext-authz';
export const ALLOWED_VALUE = 'allow';
export const RESULT_HEADER = 'x-ext-authz-check-result';
export const RECEIVED_HEADER = 'x-ext-authz-check-received';
export const OVERRIDE_HEADER = 'x-ext-authz-additional-header-override';
export const OVERRIDE_GRPC_VALUE = 'grpc-additional-header-override-value';
export const DENY_BODY = `denied by ext_authz for not found header \`${CHECK_HEADER}: ${ALLOWED_VALUE}\` in the request`;

/** Envoy rejects response headers over 60 KiB: a longer dump is replaced, as Istio's sample does. */
function notTooLong(s: string): string {
  return s.length > 60000 ? '<too-long>' : s;
}

/** Go's http.Header printed with %v: map[Canonical-Name:[v1 v2] ...], sorted by name. */
function goHeaders(h: http.IncomingHttpHeaders): string {
  const canon = (k: string) => k.replace(/(^|-)([a-z])/g, (_m, d: string, c: string) => d + c.toUpperCase());
  const entries = Object.entries(h)
    .filter(([k]) => k !== 'host')
    .map(([k, v]) => `${canon(k)}:[${(Array.isArray(v) ? v : [v ?? '']).join(' ')}]`)
    .sort();
  return `map[${entries.join(' ')}]`;
}

function httpServer(log: (l: string) => void): http.Server {
  return http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      const line = `${req.method} ${req.headers.host ?? ''}${req.url}, headers: ${goHeaders(req.headers)}, body: [${notTooLong(body)}]`;
      const allowed = req.headers[CHECK_HEADER] === ALLOWED_VALUE;
      log(`[HTTP][${allowed ? 'allowed' : 'denied'}]: ${line}`);
      res.setHeader(RESULT_HEADER, allowed ? 'allowed' : 'denied');
      res.setHeader(OVERRIDE_HEADER, String(req.headers[OVERRIDE_HEADER] ?? ''));
      // A header value cannot hold line breaks (Go's server turns them into spaces too).
      res.setHeader(RECEIVED_HEADER, line.replace(/[\r\n]/g, ' '));
      if (allowed) {
        res.writeHead(200, { 'content-length': '0' });
        res.end();
      } else {
        res.writeHead(403, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(DENY_BODY);
      }
    });
  });
}

/** envoy.service.auth.v3.Authorization from Envoy's own protos (shipped in @grpc/grpc-js-xds). */
function loadAuthorization(): grpc.ServiceClientConstructor {
  const require = createRequire(import.meta.url);
  const deps = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
  const def = protoLoader.loadSync('envoy/service/auth/v3/external_auth.proto', {
    includeDirs: ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => join(deps, d)),
    keepCase: true,
    longs: Number,
    enums: String,
    defaults: false,
    oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(def) as any;
  return pkg.envoy.service.auth.v3.Authorization;
}

interface CheckRequest {
  attributes?: { source?: { principal?: string }; request?: { http?: { headers?: Record<string, string>; host?: string; path?: string } } };
}

const headerOption = (key: string, value: string) => ({ header: { key, value } });

function check(req: CheckRequest, allowServiceAccount: string, log: (l: string) => void): unknown {
  const attrs = req.attributes ?? {};
  const value = attrs.request?.http?.headers?.[CHECK_HEADER];
  const allowed = value !== undefined ? value === ALLOWED_VALUE : (attrs.source?.principal ?? '').endsWith(`/sa/${allowServiceAccount}`);
  const dump = JSON.stringify(attrs);
  log(`[gRPCv3][${allowed ? 'allowed' : 'denied'}]: ${attrs.request?.http?.host ?? ''}${attrs.request?.http?.path ?? ''}, attributes: ${dump}`);
  const headers = [headerOption(RESULT_HEADER, allowed ? 'allowed' : 'denied'), headerOption(RECEIVED_HEADER, notTooLong(dump)), headerOption(OVERRIDE_HEADER, OVERRIDE_GRPC_VALUE)];
  if (allowed) return { status: { code: grpc.status.OK }, ok_response: { headers } };
  return { status: { code: grpc.status.PERMISSION_DENIED }, denied_response: { status: { code: 'Forbidden' }, body: DENY_BODY, headers } };
}

export interface ExtAuthzOptions extends BaseOptions {
  /** gRPC port; defaults to env GRPC_PORT, then 9000 (0 picks a free one). */
  grpcPort?: number;
  allowServiceAccount?: string;
}

export interface RunningExtAuthz extends Running {
  /** The HTTP port (`port`) and the gRPC port. */
  grpcPort: number;
}

export async function start(opts: ExtAuthzOptions = {}): Promise<RunningExtAuthz> {
  const env = opts.env ?? process.env;
  const log = opts.log ?? console.log;
  const host = opts.host ?? env.HOST ?? '0.0.0.0';
  const sa = opts.allowServiceAccount ?? env.ALLOW_SERVICE_ACCOUNT ?? 'a';
  const httpRunning = await listen(httpServer(log), resolvePort(opts, env, 8000), host);
  const grpcServer = new grpc.Server();
  grpcServer.addService(loadAuthorization().service, {
    Check(call: grpc.ServerUnaryCall<CheckRequest, unknown>, cb: grpc.sendUnaryData<unknown>) {
      cb(null, check(call.request, sa, log));
    },
  });
  const wantGrpc = opts.grpcPort ?? (env.GRPC_PORT ? Number(env.GRPC_PORT) : 9000);
  const grpcPort = await new Promise<number>((resolve, reject) => {
    grpcServer.bindAsync(`${host.includes(':') ? `[${host}]` : host}:${wantGrpc}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
  }).catch(async (e) => {
    await httpRunning.close();
    throw e;
  });
  log(`ext-authz listening on port ${httpRunning.port} (HTTP) and ${grpcPort} (gRPC)`);
  return {
    port: httpRunning.port,
    grpcPort,
    close: async () => {
      grpcServer.forceShutdown();
      await httpRunning.close();
    },
  };
}

if (isMain(import.meta.url)) closeOnSignals(await start());
