/**
 * Renders docs/envoy-support.md from the support registry (./envoy_support.ts), so the table
 * in the repository is the one validation enforces. Regenerate with
 * `node --import tsx scripts/envoy-support-doc.ts`; a test fails when the file is stale.
 */
import { ENVOY_SUPPORT, notYetHonoured, type FieldSupport } from './envoy_support.ts';

const LABEL: Record<FieldSupport['kind'], string> = { honoured: 'honoured', advisory: 'advisory (ignored, counted)', not_yet_honoured: '**not yet honoured** (ignored, counted)' };

function describe(s: FieldSupport): string {
  const parts: string[] = [];
  if (s.kind === 'honoured' && s.values) parts.push(`only ${s.values.map((v) => `\`${JSON.stringify(v)}\``).join(', ')}`);
  if (s.note) parts.push(s.note);
  return parts.join('; ').replace(/\|/g, '\\|');
}

export function renderEnvoySupportDoc(): string {
  const out: string[] = [
    '# Envoy support in `tsmesh proxy`',
    '',
    '<!-- Generated from src/proxy/config/envoy_support.ts by `node --import tsx scripts/envoy-support-doc.ts`. Do not edit. -->',
    '',
    'Every xDS resource the proxy receives is walked field by field along Envoy\'s protos. A set field is',
    '',
    '- **honoured**: implemented (for messages, their own fields are checked in turn);',
    '- **advisory**: Envoy itself treats it as a hint, or as data for extensions the proxy does not run;',
    '  accepted, counted in `/stats` as `envoy_support.advisory_field_ignored[.<message>.<field>]` and logged once;',
    '- **not yet honoured**: emitted by the control plane today and not enforced yet; accepted so sidecars',
    '  keep working, counted as `envoy_support.unsupported_field_ignored[.<message>.<field>]` and logged',
    '  once as "unsupported, ignored". This list must only shrink;',
    '- anything else: the resource is NACKed, naming the field path (`TSMESH_ERR_UNSUPPORTED_FIELD`), and',
    '  the previous version keeps serving. A message not listed here is not implemented at all.',
    '',
    '## Not yet honoured',
    '',
    '| message | field | what is missing |',
    '| --- | --- | --- |',
    ...notYetHonoured().map((f) => `| \`${f.message}\` | \`${f.field}\` | ${f.note.replace(/\|/g, '\\|')} |`),
    '',
    '## Messages',
    '',
  ];
  for (const message of Object.keys(ENVOY_SUPPORT).sort()) {
    out.push(`### \`${message}\``, '');
    const fields = Object.entries(ENVOY_SUPPORT[message]).sort(([a], [b]) => (a < b ? -1 : 1));
    if (fields.length === 0) {
      out.push('No fields; its presence is honoured.', '');
      continue;
    }
    out.push('| field | support | notes |', '| --- | --- | --- |');
    for (const [f, s] of fields) out.push(`| \`${f}\` | ${LABEL[s.kind]} | ${describe(s)} |`);
    out.push('');
  }
  return out.join('\n');
}
