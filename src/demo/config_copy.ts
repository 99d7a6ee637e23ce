/**
 * The demo's own copy of the mesh configuration: every resource of the source files in a file of
 * its own under `<state-dir>/config`, so that applying or deleting one resource is writing or
 * removing one file (what the control plane's file store watches), and the user's files are
 * never touched. Everything is validated first: an invalid resource stops the demo before any
 * process starts, with the same messages as `tsmesh validate`.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { stringify } from 'yaml';
import { listConfigFiles, loadText } from '../api/load.ts';
import { configKey, formatValidationError, isError, type Config, type ValidationError } from '../api/types.ts';

export interface LoadedConfig {
  /** Valid resources; a later definition of the same kind/namespace/name replaces an earlier one. */
  configs: Config[];
  /** Error-severity problems: the demo must not start. */
  errors: ValidationError[];
  /** Things worth telling (ignored kinds, duplicates). */
  warnings: string[];
  /** Files read. */
  files: string[];
}

/** Reads and validates files and directory trees (recursively) in order. */
export function loadConfigSources(sources: readonly string[]): LoadedConfig {
  const out: LoadedConfig = { configs: [], errors: [], warnings: [], files: [] };
  const byKey = new Map<string, Config>();
  for (const src of sources) {
    let files: string[];
    try {
      files = listConfigFiles(src);
    } catch (e) {
      out.errors.push({ file: src, path: '', message: `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` });
      continue;
    }
    if (files.length === 0) out.warnings.push(`${src}: no .yaml, .yml or .json files`);
    for (const file of files) {
      out.files.push(file);
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (e) {
        out.errors.push({ file, path: '', message: `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` });
        continue;
      }
      for (const r of loadText(text, { file: displayPath(file) })) {
        for (const e of r.errors) {
          if (isError(e)) out.errors.push(e);
          else out.warnings.push(formatValidationError(e).replace(/^warning: /, ''));
        }
        if (!r.valid || !r.config) continue;
        const key = configKey(r.config);
        const prev = byKey.get(key);
        if (prev) out.warnings.push(`${r.config.kind} ${nsName(r.config)} is defined in ${prev.origin?.file} and again in ${r.config.origin?.file}: using the latter`);
        byKey.set(key, r.config);
      }
    }
  }
  out.configs = [...byKey.values()];
  return out;
}

function nsName(c: Config): string {
  return c.metadata.namespace ? `${c.metadata.namespace}/${c.metadata.name}` : c.metadata.name;
}

/** Paths under the working directory print relative, others absolute. */
export function displayPath(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel && !rel.startsWith('..') ? rel : file;
}

/**
 * The file a resource lives in: `<kind>-<namespace>-<name>.yaml`, lowercase, the name the
 * control plane's apply API gives a new resource (it rewrites an existing one in place).
 */
export function resourceFileName(c: Pick<Config, 'kind' | 'metadata'>): string {
  return `${c.kind}-${c.metadata.namespace}-${c.metadata.name}.yaml`.toLowerCase();
}

/** The YAML text of one resource as the control plane should read it (origin dropped, namespace explicit). */
export function resourceYaml(c: Config): string {
  const { origin: _origin, ...rest } = c;
  const doc: Record<string, unknown> = { apiVersion: rest.apiVersion, kind: rest.kind, metadata: cleanMetadata(c) };
  // ServiceAccounts and Namespaces have no spec; do not invent one.
  if (c.kind !== 'ServiceAccount' && c.kind !== 'Namespace') doc.spec = rest.spec;
  const from = c.origin?.file ? `# copied by tsmesh demo from ${c.origin.file}${c.origin.document !== undefined ? ` (document ${c.origin.document})` : ''}\n` : '';
  return from + stringify(doc, { lineWidth: 0 });
}

function cleanMetadata(c: Config): Record<string, unknown> {
  const m: Record<string, unknown> = { ...c.metadata };
  if (!c.metadata.namespace) delete m.namespace;
  return m;
}

/** Replaces `dir` with one file per resource; returns the files written. */
export function writeConfigDir(dir: string, configs: readonly Config[]): string[] {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  for (const c of configs) {
    const f = join(dir, resourceFileName(c));
    writeFileSync(f, resourceYaml(c));
    files.push(f);
  }
  return files.sort();
}

/** A server of a Gateway that a proxy with `labels` serves. */
export interface GatewayPort {
  gateway: string;
  port: number;
  protocol?: string;
  file?: string;
}

/** True when every selector label is on the proxy (Istio: a Gateway without selector selects nothing here). */
function selects(selector: unknown, labels: Record<string, string>): boolean {
  if (!selector || typeof selector !== 'object') return false;
  const entries = Object.entries(selector as Record<string, unknown>);
  return entries.length > 0 && entries.every(([k, v]) => labels[k] === v);
}

/** Every port that Gateways selecting `labels` ask the proxy to listen on. */
export function gatewayPorts(configs: readonly Config[], labels: Record<string, string>): GatewayPort[] {
  const out: GatewayPort[] = [];
  for (const c of configs) {
    if (c.kind !== 'Gateway' || !selects(c.spec?.selector, labels)) continue;
    for (const s of Array.isArray(c.spec?.servers) ? c.spec.servers : []) {
      const n = Number(s?.port?.number);
      if (Number.isInteger(n) && n > 0) out.push({ gateway: nsName(c), port: n, protocol: s?.port?.protocol, file: c.origin?.file });
    }
  }
  return out;
}

/**
 * A copy of `configs` where Gateways selecting `labels` listen on `to` instead of `from`.
 * For the demo's copy of tsmesh's own sample only (`--port`); user files keep their ports.
 */
export function remapGatewayPort(configs: readonly Config[], labels: Record<string, string>, from: number, to: number): Config[] {
  return configs.map((c) => {
    if (c.kind !== 'Gateway' || !selects(c.spec?.selector, labels) || !Array.isArray(c.spec?.servers)) return c;
    const servers = c.spec.servers.map((s: any) => (Number(s?.port?.number) === from ? { ...s, port: { ...s.port, number: to } } : s));
    return { ...c, spec: { ...c.spec, servers } };
  });
}
