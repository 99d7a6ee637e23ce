/**
 * What `tsmesh install` can be told, in istioctl's vocabulary: an IstioOperator document
 * (`-f`) and `--set path=value` overrides of its spec (`hub`, `tag`, `revision`,
 * `meshConfig.*`, `values.*`, `components.*`). Only the paths tsmesh acts on are accepted; any
 * other is refused by name, so a setting never silently does nothing.
 */
import { parse } from 'yaml';
import { parseMeshConfig } from '../../api/mesh.ts';
import { TSMESH_VERSION } from '../../common/version.ts';

export interface InstallValues {
  /** The control plane's namespace (Istio's values.global.istioNamespace). */
  namespace: string;
  /** Istio's revision: '' for the default one; names the objects and the webhook selectors. */
  revision: string;
  /** The one image (node + tsmesh) every component runs: `${hub}/tsmesh:${tag}` unless `image` is set. */
  hub: string;
  tag: string;
  image?: string;
  /** values.pilot.replicaCount: control-plane replicas (leader election decides who writes status). */
  replicas: number;
  /** meshConfig, as the istio ConfigMap's `mesh` key carries it. */
  meshConfig: Record<string, unknown>;
  /** components.ingressGateways[0].enabled: the istio-ingressgateway Deployment and Service. */
  ingressGateway: boolean;
}

export function defaultValues(): InstallValues {
  return { namespace: 'istio-system', revision: '', hub: 'tsmesh', tag: TSMESH_VERSION, replicas: 1, meshConfig: {}, ingressGateway: true };
}

/** The image every Deployment runs. */
export function imageOf(v: InstallValues): string {
  return v.image ?? `${v.hub}/tsmesh:${v.tag}`;
}

export class ValuesError extends Error {}

/** The paths `--set` and `-f` may set (meshConfig.* is any MeshConfig field). */
export const SETTABLE = [
  'hub', 'tag', 'revision', 'namespace', 'meshConfig.<field>', 'values.global.istioNamespace', 'values.global.hub',
  'values.global.tag', 'values.pilot.image', 'values.pilot.replicaCount', 'components.ingressGateways[0].enabled',
];

/**
 * Values from IstioOperator documents (text of each -f file, in order) then --set overrides
 * (`a.b[0].c=value`: true/false and integers are typed, as istioctl does).
 */
export function resolveValues(files: readonly { name: string; text: string }[], sets: readonly string[]): InstallValues {
  const spec: Record<string, unknown> = {};
  for (const f of files) {
    let doc: unknown;
    try {
      doc = parse(f.text);
    } catch (e) {
      throw new ValuesError(`${f.name}: YAML syntax error: ${(e as Error).message.split('\n')[0]}`);
    }
    if (doc === null || doc === undefined) continue;
    if (!isObj(doc)) throw new ValuesError(`${f.name}: expected an IstioOperator document (kind: IstioOperator, spec: ...)`);
    const body = doc.kind === 'IstioOperator' ? doc.spec ?? {} : doc;
    if (!isObj(body)) throw new ValuesError(`${f.name}: spec must be a mapping`);
    merge(spec, body);
  }
  for (const s of sets) {
    const eq = s.indexOf('=');
    if (eq <= 0) throw new ValuesError(`--set ${s}: expected path=value, e.g. --set hub=docker.io/me`);
    setPath(spec, s.slice(0, eq), typed(s.slice(eq + 1)));
  }
  return fromSpec(spec);
}

function fromSpec(spec: Record<string, unknown>): InstallValues {
  const v = defaultValues();
  const seen = new Set<string>();
  const take = (path: string): unknown => {
    seen.add(path);
    return getPath(spec, path);
  };
  const str = (path: string): string | undefined => {
    const x = take(path);
    if (x === undefined) return undefined;
    if (typeof x !== 'string' && typeof x !== 'number') throw new ValuesError(`${path}: expected a string, got ${JSON.stringify(x)}`);
    return String(x);
  };
  v.hub = str('values.global.hub') ?? v.hub;
  v.hub = str('hub') ?? v.hub;
  v.tag = str('values.global.tag') ?? v.tag;
  v.tag = str('tag') ?? v.tag;
  v.image = str('values.pilot.image');
  v.revision = str('revision') ?? '';
  v.namespace = str('values.global.istioNamespace') ?? v.namespace;
  v.namespace = str('namespace') ?? v.namespace;
  for (const [what, value] of [['revision', v.revision], ['namespace', v.namespace]] as const) {
    if (value !== '' && !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(value)) throw new ValuesError(`${what} ${JSON.stringify(value)}: must be a DNS-1123 label (lowercase letters, digits and "-")`);
  }
  if (v.namespace === '') throw new ValuesError('namespace must not be empty');
  const replicas = take('values.pilot.replicaCount');
  if (replicas !== undefined) {
    if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 1) throw new ValuesError(`values.pilot.replicaCount: expected an integer of at least 1, got ${JSON.stringify(replicas)}`);
    v.replicas = replicas;
  }
  const gw = take('components.ingressGateways[0].enabled');
  if (gw !== undefined) {
    if (typeof gw !== 'boolean') throw new ValuesError(`components.ingressGateways[0].enabled: expected true or false, got ${JSON.stringify(gw)}`);
    v.ingressGateway = gw;
  }
  // components.ingressGateways[0].name may be given (IstioOperator files carry it); only Istio's name is built.
  const gwName = take('components.ingressGateways[0].name');
  if (gwName !== undefined && gwName !== 'istio-ingressgateway') throw new ValuesError(`components.ingressGateways[0].name: only istio-ingressgateway is installed, got ${JSON.stringify(gwName)}`);
  const mesh = take('meshConfig');
  if (mesh !== undefined) {
    if (!isObj(mesh)) throw new ValuesError(`meshConfig: expected a mapping, got ${JSON.stringify(mesh)}`);
    const errors = parseMeshConfig(JSON.stringify(mesh)).errors;
    if (errors.length) throw new ValuesError(`meshConfig is invalid:\n${errors.map((e) => `  meshConfig${e.path ? '.' + e.path : ''}: ${e.message}`).join('\n')}`);
    v.meshConfig = mesh;
  }
  const unknown = leafPaths(spec).filter((p) => ![...seen].some((s) => p === s || p.startsWith(`${s}.`) || p.startsWith(`${s}[`)));
  if (unknown.length) throw new ValuesError(`tsmesh install does not act on ${unknown.join(', ')}; settable: ${SETTABLE.join(', ')}`);
  return v;
}

type Seg = string | number;

function parsePath(path: string): Seg[] {
  const segs: Seg[] = [];
  for (const part of path.split('.')) {
    const m = /^([^[\]]*)((?:\[\d+\])*)$/.exec(part);
    if (!m || (m[1] === '' && m[2] === '')) throw new ValuesError(`--set ${path}: cannot read the path; use dots and [index], e.g. components.ingressGateways[0].enabled`);
    if (m[1] !== '') segs.push(m[1]);
    for (const i of m[2].matchAll(/\[(\d+)\]/g)) segs.push(Number(i[1]));
  }
  return segs;
}

function setPath(root: Record<string, unknown>, path: string, value: unknown): void {
  const segs = parsePath(path);
  let cur: any = root;
  segs.forEach((s, i) => {
    if (i === segs.length - 1) {
      cur[s] = value;
      return;
    }
    const next = segs[i + 1];
    if (cur[s] === undefined || cur[s] === null || typeof cur[s] !== 'object') cur[s] = typeof next === 'number' ? [] : {};
    cur = cur[s];
  });
}

function getPath(root: unknown, path: string): unknown {
  let cur: any = root;
  for (const s of parsePath(path)) {
    if (cur === undefined || cur === null || typeof cur !== 'object') return undefined;
    cur = cur[s];
  }
  return cur;
}

function leafPaths(v: unknown, prefix = ''): string[] {
  if (Array.isArray(v)) return v.flatMap((x, i) => leafPaths(x, `${prefix}[${i}]`));
  if (isObj(v)) return Object.entries(v).flatMap(([k, x]) => leafPaths(x, prefix ? `${prefix}.${k}` : k));
  return [prefix];
}

function merge(into: Record<string, any>, from: Record<string, any>): void {
  for (const [k, v] of Object.entries(from)) {
    if (isObj(v) && isObj(into[k])) merge(into[k], v);
    else into[k] = structuredClone(v);
  }
}

function typed(s: string): unknown {
  if (s === 'true') return true;
  if (s === 'false') return false;
  if (/^-?\d+$/.test(s)) return Number(s);
  return s;
}

function isObj(v: unknown): v is Record<string, any> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
