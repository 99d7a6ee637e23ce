/**
 * Go's fmt verbs as Istio's message templates use them (%s %q %d %v), so texts read exactly as
 * istioctl prints them: a list is `[a b]`, %q quotes a string, or every string of a list.
 */
export function goFormat(template: string, args: readonly unknown[]): string {
  let i = 0;
  return template.replace(/%([sqdv%])/g, (_m, verb: string) => {
    if (verb === '%') return '%';
    if (i >= args.length) return `%!${verb}(MISSING)`;
    return formatArg(args[i++], verb);
  });
}

function formatArg(v: unknown, verb: string): string {
  if (Array.isArray(v)) return `[${v.map((x) => formatArg(x, verb)).join(' ')}]`;
  if (verb === 'q') return typeof v === 'string' ? goQuote(v) : typeof v === 'number' ? `'${String.fromCodePoint(v)}'` : goQuote(String(v));
  if (v === null || v === undefined) return '<nil>';
  if (verb === 'd') return typeof v === 'number' ? String(Math.trunc(v)) : `%!d(${typeof v}=${String(v)})`;
  if (typeof v === 'object') return goMap(v as Record<string, unknown>);
  return String(v);
}

/** Go's strconv.Quote for the printable strings config holds: JSON's escaping is the same there. */
function goQuote(s: string): string {
  return JSON.stringify(s).replace(/\\u([0-9a-f]{4})/g, (_m, h: string) => `\\x${h.slice(2)}`);
}

function goMap(o: Record<string, unknown>): string {
  const keys = Object.keys(o).sort();
  return `map[${keys.map((k) => `${k}:${formatArg(o[k], 'v')}`).join(' ')}]`;
}
