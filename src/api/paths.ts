/**
 * Field paths as users read them: `spec.http[0].route[1].weight`, `metadata.labels["app.kubernetes.io/name"]`.
 */

export type Segment = string | number;

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;

/** Appends one key or index to a path. */
export function child(path: string, seg: Segment): string {
  if (typeof seg === 'number') return `${path}[${seg}]`;
  if (IDENT.test(seg)) return path ? `${path}.${seg}` : seg;
  return `${path}[${JSON.stringify(seg)}]`;
}

export function formatPath(segs: readonly Segment[]): string {
  let p = '';
  for (const s of segs) p = child(p, s);
  return p;
}

/** Inverse of formatPath (for locating a field in the YAML source). */
export function parsePath(path: string): Segment[] {
  const out: Segment[] = [];
  const re = /\.?([A-Za-z_$][A-Za-z0-9_$-]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]/gy;
  let m: RegExpExecArray | null;
  while (re.lastIndex < path.length && (m = re.exec(path))) {
    if (m[1] !== undefined) out.push(m[1]);
    else if (m[2] !== undefined) out.push(Number(m[2]));
    else out.push(JSON.parse(m[3]) as string);
  }
  return out;
}
