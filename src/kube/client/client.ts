/**
 * The one way tsmesh talks to a Kubernetes API server: a kubeconfig read by
 * @kubernetes/client-node (its KubeConfig does the auth: client certificates, tokens, exec
 * plugins), plain JSON requests for lists and writes, and client-node's Watch for streams.
 *
 * Lists and writes go through node:https with the options KubeConfig fills in, not through the
 * generated typed clients: those turn objects into model classes (Dates, renamed fields), and the
 * rest of tsmesh reads objects exactly as the API server (and the YAML) spells them.
 */
import { request as httpsRequest } from 'node:https';
import { request as httpRequest, type RequestOptions } from 'node:http';
import { KubeConfig, Watch } from '@kubernetes/client-node';

/** A failed API call: the HTTP status and the API server's Status message. */
export class KubeApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }
}

/** One line of a watch stream. */
export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: any;
}

/** What a running watch returns: abort() ends it (done is then called with no error). */
export interface WatchHandle {
  abort(): void;
}

/**
 * Loads a kubeconfig: the file given, else $KUBECONFIG, else ~/.kube/config (kubectl's order).
 * Throws with what to do next when none names a cluster.
 */
export function loadKubeConfig(file?: string): KubeConfig {
  const kc = new KubeConfig();
  if (file) kc.loadFromFile(file);
  else kc.loadFromDefault();
  if (!kc.getCurrentCluster()) throw new Error(`no current cluster in ${file ?? process.env.KUBECONFIG ?? '~/.kube/config'}: pass --kubeconfig <file> or set KUBECONFIG`);
  return kc;
}

export class KubeClient {
  readonly server: string;
  readonly #watch: Watch;

  constructor(readonly kc: KubeConfig) {
    this.server = kc.getCurrentCluster()!.server.replace(/\/$/, '');
    this.#watch = new Watch(kc);
  }

  static fromFile(file?: string): KubeClient {
    return new KubeClient(loadKubeConfig(file));
  }

  get<T = any>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  /**
   * One request; the body is JSON (or a patch, by contentType). Non-2xx → KubeApiError with the
   * server's Status message.
   */
  async request<T = any>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    const url = new URL(this.server + path);
    const opts: RequestOptions & { headers: Record<string, string> } = {
      method,
      hostname: url.hostname,
      port: url.port,
      path: url.pathname + url.search,
      headers: { accept: 'application/json' },
    };
    await this.kc.applyToHTTPSOptions(opts as never);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    if (payload) {
      opts.headers['content-type'] = contentType;
      opts.headers['content-length'] = String(payload.length);
    }
    const send = url.protocol === 'http:' ? httpRequest : httpsRequest;
    return new Promise<T>((resolve, reject) => {
      const req = send(opts, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: any;
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {
            json = undefined;
          }
          const code = res.statusCode ?? 0;
          if (code >= 200 && code < 300) return resolve(json as T);
          const message = json?.message ?? (text.slice(0, 200) || res.statusMessage || 'no message');
          reject(new KubeApiError(code, json?.reason ?? '', `${method} ${path}: ${code} ${message}`));
        });
      });
      req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${path}: no answer from ${this.server} in 30s`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  /**
   * Starts a watch on `path` from `resourceVersion` with bookmarks. `done` is called once, when the
   * stream ends (err undefined: the server closed it or abort() was called).
   */
  async watch(path: string, resourceVersion: string, onEvent: (e: WatchEvent) => void, done: (err?: Error & { statusCode?: number }) => void): Promise<WatchHandle> {
    // The server ends each watch after timeoutSeconds; spread so many informers do not reconnect at once.
    const timeoutSeconds = 240 + Math.floor(Math.random() * 60);
    const controller = await this.#watch.watch(
      path,
      { resourceVersion, allowWatchBookmarks: true, timeoutSeconds },
      (type: string, object: any) => onEvent({ type: type as WatchEvent['type'], object }),
      (err: unknown) => done(err ? (err as Error) : undefined),
    );
    return { abort: () => controller.abort() };
  }
}
