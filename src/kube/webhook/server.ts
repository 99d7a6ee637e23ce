/**
 * The admission webhook server (istiod's HTTPS port 443 → 15017): AdmissionReview v1 in, v1 out,
 * `/inject` (mutating; Istio's `/inject/<params>` form too) and `/validate` (validating). Served
 * over HTTPS with a certificate from tsmesh's CA for the istiod Service's names, or the one the
 * caller passes. A body that is not an AdmissionReview v1 gets 400 with what was wrong; a handler
 * that throws gets an answer refusing the object with the error (never a dropped request).
 */
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CertificateAuthority } from '../../ca/authority.ts';
import type { AdmissionHandler, AdmissionReview } from './types.ts';
import { readBody } from '../../common/read_body.ts';

export interface WebhookServerOptions {
  /** host:port or port to listen on (default 127.0.0.1:0). */
  host?: string;
  port?: number;
  /** The serving certificate chain and key; else one from `ca` for `dnsNames`. */
  certPem?: string;
  keyPem?: string;
  ca?: CertificateAuthority;
  /** Names the API server dials (Istio: istiod.<ns>.svc). */
  dnsNames?: string[];
  ips?: string[];
  inject?: AdmissionHandler;
  validate?: AdmissionHandler;
  log?: (line: string) => void;
}

/** The Service name the API server reaches the webhooks at, and its short forms. */
export const WEBHOOK_DNS_NAMES = ['istiod.istio-system.svc', 'istiod.istio-system.svc.cluster.local', 'istiod.istio-system', 'istiod'];
/** API server bodies are at most 3 MiB (etcd's request limit); AdmissionReview doubles it at most. */
const MAX_BODY = 8 * 1024 * 1024;

export class WebhookServer {
  readonly #o: WebhookServerOptions;
  #server?: Server;
  port = 0;

  constructor(o: WebhookServerOptions) {
    this.#o = o;
  }

  async listen(): Promise<number> {
    let { certPem, keyPem } = this.#o;
    if (!certPem || !keyPem) {
      if (!this.#o.ca) throw new Error('webhook server: pass certPem and keyPem, or a CA to issue them');
      const issued = await this.#o.ca.serverCertificate({ dnsNames: this.#o.dnsNames ?? WEBHOOK_DNS_NAMES, ips: this.#o.ips ?? ['127.0.0.1'] });
      certPem = issued.chainPem;
      keyPem = issued.keyPem;
    }
    const server = createServer({ cert: certPem, key: keyPem, minVersion: 'TLSv1.2' }, (req, res) => void this.#handle(req, res));
    this.#server = server;
    const host = this.#o.host ?? '127.0.0.1';
    const port = this.#o.port ?? 0;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) => reject(new Error(e.code === 'EADDRINUSE' ? `webhook server: ${host}:${port} is already in use; pick another port` : `webhook server: cannot listen on ${host}:${port}: ${e.message}`)));
      server.listen(port, host, () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    return this.port;
  }

  async close(): Promise<void> {
    const s = this.#server;
    if (!s) return;
    await new Promise<void>((r) => s.close(() => r()));
    s.closeAllConnections();
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!;
    const route = path === '/inject' || path.startsWith('/inject/') ? 'inject' : path === '/validate' || path === '/validate/' ? 'validate' : undefined;
    const handler = route === undefined ? undefined : this.#o[route];
    if (!handler) return text(res, 404, `no admission webhook at ${path}; the routes are /inject and /validate\n`);
    if (req.method !== 'POST') return text(res, 405, 'admission webhooks take POST with an AdmissionReview\n');
    const ct = String(req.headers['content-type'] ?? '');
    if (!ct.startsWith('application/json')) return text(res, 400, `expected content-type application/json, got ${JSON.stringify(ct)}\n`);
    let body: string;
    try {
      body = await readBody(req, MAX_BODY);
    } catch (e) {
      return text(res, 400, `${(e as Error).message}\n`);
    }
    let review: AdmissionReview;
    try {
      review = JSON.parse(body) as AdmissionReview;
    } catch (e) {
      return text(res, 400, `the body is not JSON: ${(e as Error).message}\n`);
    }
    if (review?.apiVersion !== 'admission.k8s.io/v1' || review.kind !== 'AdmissionReview') {
      return text(res, 400, `expected an AdmissionReview of admission.k8s.io/v1, got ${JSON.stringify(review?.kind)} ${JSON.stringify(review?.apiVersion)}\n`);
    }
    const request = review.request;
    if (!request || typeof request !== 'object' || typeof request.uid !== 'string' || !request.uid) return text(res, 400, 'the AdmissionReview has no request with a uid\n');
    let response;
    try {
      response = await handler(request);
    } catch (e) {
      this.#o.log?.(`webhook ${route}: ${request.kind?.kind ?? '?'} ${request.namespace ?? ''}/${request.name ?? ''}: handler failed: ${(e as Error).message}`);
      response = { uid: request.uid, allowed: false, status: { code: 500, reason: 'InternalError', message: `${route} webhook: ${(e as Error).message}` } };
    }
    const out: AdmissionReview = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { ...response, uid: request.uid } };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(out));
  }
}

function text(res: ServerResponse, code: number, body: string): void {
  res.writeHead(code, { 'content-type': 'text/plain' }).end(body);
}
