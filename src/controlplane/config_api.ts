/**
 * `POST /apis/v1/apply` and `POST /apis/v1/delete` on the control plane's HTTP port: what
 * `tsmesh apply -f` / `tsmesh delete -f` talk to. Like kubectl against an API server, a request
 * is all or nothing: every document is validated together with the config already served, and
 * only then written into the watched config directory (one file per resource), so the file
 * store stays the single source of truth and a restart sees the same config.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { existsSync, mkdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { loadText } from '../api/load.ts';
import { crossValidate } from '../api/validation/cross.ts';
import { configKey, formatValidationError, isError, type Config } from '../api/types.ts';
import type { FileConfigStore } from '../api/file-store.ts';
import { readBody } from '../common/read_body.ts';

const MAX_BODY = 4 * 1024 * 1024;

export class ConfigApi {
  constructor(private readonly dir: string, private readonly store: FileConfigStore) {}

  /** Answers the /apis/v1/* paths; false for anything else. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/apis/v1/apply' && path !== '/apis/v1/delete') return false;
    if (req.method !== 'POST') {
      send(res, 405, { errors: [`${path} takes POST with a YAML body`] });
      return true;
    }
    const source = new URL(req.url ?? '', 'http://x').searchParams.get('file') ?? 'request';
    readBody(req, MAX_BODY).then(
      (text) => {
        const r = path.endsWith('apply') ? this.apply(text, source) : this.delete(text, source);
        send(res, r.status, r.body);
      },
      (err: Error) => send(res, 413, { errors: [err.message] }),
    );
    return true;
  }

  apply(text: string, file: string): { status: number; body: object } {
    const parsed = this.parse(text, file);
    if ('errors' in parsed) return { status: 400, body: parsed };
    // Validate the new set together with what is served (e.g. a subset a VirtualService names).
    const incoming = new Map(parsed.configs.map((c) => [configKey(c), c]));
    const merged = [...this.store.all().filter((c) => !incoming.has(configKey(c))), ...incoming.values()];
    // Cross-resource findings (a subset no DestinationRule defines, ...) do not block the apply:
    // Istio accepts such config and its analyzer reports it, and blocking would make the order
    // of applies matter. They come back as warnings.
    const cross = crossValidate(merged).filter((e) => parsed.configs.some((c) => c.kind === e.kind && c.metadata.name === e.name && c.metadata.namespace === e.namespace));
    // Fields accepted but not enforced yet (TSMESH_ERR_UNSUPPORTED_FIELD) are warnings too, so a
    // client that skips its own validation (curl, an older tsmesh) still learns of them.
    // The client prints each with its own "warning: " prefix.
    const warnings = [...parsed.warnings, ...cross.map((e) => formatValidationError({ ...e, file }))].map((w) => w.replace(/^warning: /, ''));
    const conflicts: string[] = [];
    const writes: Array<[string, Config]> = [];
    for (const c of parsed.configs) {
      const target = this.fileFor(c, conflicts);
      if (target) writes.push([target, c]);
    }
    if (conflicts.length) return { status: 409, body: { errors: conflicts } };
    mkdirSync(this.dir, { recursive: true });
    for (const [target, c] of writes) writeFileSync(target, stringify(strip(c)));
    this.store.rescan();
    return { status: 200, body: { applied: parsed.configs.map(describe), ...(warnings.length ? { warnings } : {}) } };
  }

  delete(text: string, file: string): { status: number; body: object } {
    const parsed = this.parse(text, file);
    if ('errors' in parsed) return { status: 400, body: parsed };
    const missing = parsed.configs.filter((c) => !this.store.get(c.kind, c.metadata.name, c.metadata.namespace));
    if (missing.length) return { status: 404, body: { errors: missing.map((c) => `${describe(c)} not found`) } };
    const conflicts: string[] = [];
    const files = parsed.configs.map((c) => this.fileFor(c, conflicts)).filter((f): f is string => !!f);
    if (conflicts.length) return { status: 409, body: { errors: conflicts } };
    for (const f of files) if (existsSync(f)) unlinkSync(f);
    this.store.rescan();
    return { status: 200, body: { deleted: parsed.configs.map(describe) } };
  }

  private parse(text: string, file: string): { configs: Config[]; warnings: string[] } | { errors: string[] } {
    const loaded = loadText(text, { file });
    const errors = loaded.flatMap((l) => l.errors.filter(isError)).map(formatValidationError);
    if (errors.length) return { errors };
    const configs = loaded.map((l) => l.config).filter((c): c is Config => !!c);
    if (configs.length === 0) return { errors: [`${file}: no resources found`] };
    const warnings = loaded.flatMap((l) => l.errors.filter((e) => !isError(e))).map(formatValidationError);
    return { configs, warnings };
  }

  /**
   * The file that holds a resource: the one it came from when that file holds nothing else,
   * else a new `<kind>-<namespace>-<name>.yaml`. A resource inside a multi-document file the
   * user wrote is not rewritten behind their back.
   */
  private fileFor(c: Config, conflicts: string[]): string | undefined {
    const current = this.store.get(c.kind, c.metadata.name, c.metadata.namespace);
    const origin = current?.origin?.file;
    if (origin) {
      const siblings = this.store.all().filter((x) => x.origin?.file === origin);
      if (siblings.length > 1) {
        conflicts.push(`${describe(c)} is defined in ${origin} together with ${siblings.length - 1} other resource(s); edit that file instead`);
        return undefined;
      }
      return origin;
    }
    return join(this.dir, `${c.kind}-${c.metadata.namespace}-${c.metadata.name}.yaml`.toLowerCase());
  }
}

function describe(c: Config): string {
  return `${c.kind} ${c.metadata.namespace}/${c.metadata.name}`;
}

function strip(c: Config): object {
  return { apiVersion: c.apiVersion, kind: c.kind, metadata: c.metadata, spec: c.spec };
}

function send(res: ServerResponse, status: number, body: object): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body, null, 2) + '\n');
}

