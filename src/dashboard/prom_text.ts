/**
 * Reads Prometheus' text exposition format (what every proxy serves at /stats/prometheus), keeping
 * only the metric families asked for: the dashboard needs a handful of Istio's standard metrics,
 * not the hundreds of envoy_* series beside them.
 */

export type Labels = Record<string, string>;

export interface Sample {
  name: string;
  labels: Labels;
  value: number;
}

/**
 * The samples of `text` whose metric name is in `keep` (all when omitted). Comment lines, and
 * lines that do not parse, are skipped: one odd line must not hide a proxy's other series.
 */
export function parsePrometheusText(text: string, keep?: ReadonlySet<string>): Sample[] {
  const out: Sample[] = [];
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const line = text.slice(start, end);
    start = end + 1;
    if (line.length === 0 || line.charCodeAt(0) === 35 /* # */) continue;
    const s = parseLine(line, keep);
    if (s) out.push(s);
  }
  return out;
}

function parseLine(line: string, keep: ReadonlySet<string> | undefined): Sample | undefined {
  const brace = line.indexOf('{');
  const space = line.indexOf(' ');
  const nameEnd = brace >= 0 && (space < 0 || brace < space) ? brace : space;
  if (nameEnd <= 0) return undefined;
  const name = line.slice(0, nameEnd);
  if (keep && !keep.has(name)) return undefined;
  const labels: Labels = {};
  let i = nameEnd;
  if (line[i] === '{') {
    i++;
    while (i < line.length && line[i] !== '}') {
      const eq = line.indexOf('=', i);
      if (eq < 0 || line[eq + 1] !== '"') return undefined;
      const key = line.slice(i, eq).trim();
      let j = eq + 2;
      let value = '';
      while (j < line.length && line[j] !== '"') {
        if (line[j] === '\\' && j + 1 < line.length) {
          const c = line[j + 1];
          value += c === 'n' ? '\n' : c;
          j += 2;
        } else {
          value += line[j];
          j++;
        }
      }
      if (j >= line.length) return undefined;
      labels[key] = value;
      i = j + 1;
      if (line[i] === ',') i++;
    }
    if (line[i] !== '}') return undefined;
    i++;
  }
  // The value, then an optional timestamp.
  const rest = line.slice(i).trim().split(/\s+/);
  const value = parseValue(rest[0] ?? '');
  if (value === undefined) return undefined;
  return { name, labels, value };
}

function parseValue(s: string): number | undefined {
  if (s === '+Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  if (s === 'NaN') return NaN;
  const v = Number(s);
  return s !== '' && !Number.isNaN(v) ? v : undefined;
}

/** A series' identity: its name and its labels in a fixed order. */
export function seriesKey(name: string, labels: Labels): string {
  const keys = Object.keys(labels).sort();
  let k = name;
  for (const key of keys) k += `\u0000${key}=${labels[key]}`;
  return k;
}
