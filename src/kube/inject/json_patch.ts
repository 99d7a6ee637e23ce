/**
 * An RFC 6902 JSON patch from one JSON document to another: what a mutating webhook returns.
 * Objects are diffed key by key; arrays element by element when only appended to or edited in
 * place, otherwise replaced whole (a patch the API server applies exactly, if not the shortest).
 * Keys are escaped per RFC 6901 (~ as ~0, / as ~1), so annotation keys like
 * sidecar.istio.io/status address the right member.
 */

export type JsonPatchOp = { op: 'add' | 'replace'; path: string; value: unknown } | { op: 'remove'; path: string };

export function escapePointer(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

export function createPatch(from: unknown, to: unknown): JsonPatchOp[] {
  const ops: JsonPatchOp[] = [];
  diff(from, to, '', ops);
  return ops;
}

function diff(a: unknown, b: unknown, path: string, ops: JsonPatchOp[]): void {
  if (equal(a, b)) return;
  if (isObj(a) && isObj(b)) {
    for (const k of Object.keys(a)) if (!(k in b)) ops.push({ op: 'remove', path: `${path}/${escapePointer(k)}` });
    for (const [k, v] of Object.entries(b)) {
      const p = `${path}/${escapePointer(k)}`;
      if (!(k in a)) ops.push({ op: 'add', path: p, value: v });
      else diff(a[k], v, p, ops);
    }
    return;
  }
  if (Array.isArray(a) && Array.isArray(b) && b.length >= a.length && a.every((x, i) => sameIdentity(x, b[i]))) {
    // Same leading elements (edited in place), then appended ones: "/-" keeps adds order-independent of length.
    a.forEach((x, i) => diff(x, b[i], `${path}/${i}`, ops));
    for (const v of b.slice(a.length)) ops.push({ op: 'add', path: `${path}/-`, value: v });
    return;
  }
  ops.push({ op: 'replace', path, value: b });
}

/** Elements are the same item when equal, or objects with the same `name` (containers, volumes). */
function sameIdentity(x: unknown, y: unknown): boolean {
  if (equal(x, y)) return true;
  return isObj(x) && isObj(y) && typeof x.name === 'string' && x.name === y.name;
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function equal(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => equal(x, b[i]));
  if (isObj(a) && isObj(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => k in b && equal(a[k], b[k]));
  }
  return false;
}

/** Applies a patch made by createPatch (the subset of RFC 6902 it emits), for tests and checks. */
export function applyPatch<T>(doc: T, ops: JsonPatchOp[]): T {
  let root: unknown = structuredClone(doc);
  for (const op of ops) {
    const parts = op.path === '' ? [] : op.path.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
    if (parts.length === 0) {
      if (op.op === 'remove') throw new Error('cannot remove the document root');
      root = structuredClone(op.value);
      continue;
    }
    let parent: any = root;
    for (const p of parts.slice(0, -1)) {
      parent = parent?.[Array.isArray(parent) ? Number(p) : p];
      if (parent === undefined || parent === null) throw new Error(`path ${op.path}: ${p} does not exist`);
    }
    const last = parts.at(-1)!;
    if (Array.isArray(parent)) {
      const i = last === '-' ? parent.length : Number(last);
      if (!Number.isInteger(i) || i < 0 || i > parent.length) throw new Error(`path ${op.path}: bad array index`);
      if (op.op === 'add') parent.splice(i, 0, structuredClone(op.value));
      else if (op.op === 'replace') parent[i] = structuredClone(op.value);
      else parent.splice(i, 1);
    } else if (typeof parent === 'object' && parent !== null) {
      if (op.op === 'remove') {
        if (!(last in parent)) throw new Error(`path ${op.path}: no such member`);
        delete parent[last];
      } else {
        if (op.op === 'replace' && !(last in parent)) throw new Error(`path ${op.path}: replace of a missing member`);
        parent[last] = structuredClone(op.value);
      }
    } else throw new Error(`path ${op.path}: parent is not a container`);
  }
  return root as T;
}
