/**
 * docs/istio-support.md, rendered from the support tables (support.ts for the Istio kinds,
 * mesh_support.ts for meshConfig). scripts/istio-support-doc.ts writes it; a test fails when the
 * committed file differs.
 */
import { ISTIO_KINDS } from '../kinds.ts';
import { ISSUES, ISTIO_SUPPORT, type Support } from './support.ts';
import { MESH_SUPPORT } from './mesh_support.ts';

function status(s: Support): string {
  if (s.status === 'enforced') return s.note ? `enforced (${s.note})` : 'enforced';
  if (s.status === 'n/a') return `n/a: ${s.reason}`;
  return `**not enforced** (issue ${s.issue}): ${s.reason}`;
}

const esc = (t: string) => t.replace(/\|/g, '\\|');

/** Rows of one kind: enforced leaves without a note are grouped under their parent. */
function rows(entries: [string, Support][], strip: string): string[] {
  const out: string[] = [];
  const grouped = new Map<string, string[]>();
  const order: string[] = [];
  for (const [key, s] of entries) {
    const path = key.slice(strip.length);
    if (s.status === 'enforced' && !s.note && !s.gap) {
      const at = path.lastIndexOf('.');
      const parent = at < 0 ? '' : path.slice(0, at);
      if (!grouped.has(parent)) {
        grouped.set(parent, []);
        order.push(`g:${parent}`);
      }
      grouped.get(parent)!.push(path.slice(at + 1));
    } else order.push(`r:${path}\0${status(s)}`);
  }
  for (const o of order) {
    if (o.startsWith('g:')) {
      const parent = o.slice(2);
      out.push(`| \`${parent || '(top level)'}\`: ${grouped.get(parent)!.map((f) => `\`${f}\``).join(', ')} | enforced |`);
    } else {
      const [path, text] = o.slice(2).split('\0') as [string, string];
      out.push(`| \`${esc(path)}\` | ${esc(text)} |`);
    }
  }
  return out;
}

export function renderIstioSupportDoc(): string {
  const lines = [
    '# Istio configuration: what tsmesh enforces',
    '',
    '<!-- Generated from src/api/fields/support.ts and src/api/fields/mesh_support.ts by',
    '     `node --import tsx scripts/istio-support-doc.ts`. Do not edit. -->',
    '',
    'Every field of every Istio kind tsmesh accepts (the fields of Istio\'s CRDs) is listed here as',
    '**enforced** (the control plane translates it and the proxy honours the result, see',
    '[envoy-support.md](envoy-support.md)), **not enforced** yet (with the issue that closes the gap), or',
    '**n/a** (no effect on traffic). A resource that sets a not-enforced field is still accepted, as',
    'Istio would, but `tsmesh validate`, `tsmesh apply` and the control plane print a warning with code',
    '`TSMESH_ERR_UNSUPPORTED_FIELD` naming the file, line, resource and field.',
    '',
    'Paths are relative to the resource; list items have no index, map values are written `*`. A',
    'not-enforced or n/a row covers everything below it.',
    '',
    'Issues: ' + Object.entries(ISSUES).map(([n, t]) => `${n} ${t}`).join('; ') + '.',
    '',
  ];
  const all = Object.entries(ISTIO_SUPPORT).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const kind of ISTIO_KINDS) {
    const prefix = `${kind}.`;
    lines.push(`## ${kind}`, '', '| field | status |', '| --- | --- |', ...rows(all.filter(([k]) => k.startsWith(prefix)), prefix), '');
  }
  lines.push('## meshConfig', '', 'Reported when the control plane starts with a mesh config that sets the field to a value other than', 'the default. Fields not listed are not enforced.', '', '| field | status |', '| --- | --- |');
  for (const [key, s] of Object.entries(MESH_SUPPORT).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) lines.push(`| \`${key}\` | ${esc(status(s))} |`);
  lines.push('');
  return lines.join('\n');
}
