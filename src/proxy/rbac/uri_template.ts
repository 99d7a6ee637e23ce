/**
 * Envoy's uri_template path matcher (envoy.path.match.uri_template, UriTemplateMatchConfig), which
 * Istio emits for AuthorizationPolicy paths written with `{*}` and `{**}`. The template becomes
 * an RE2 pattern, as Envoy builds it: `*` (and `{name}`, `{name=*}`) is one path segment of URL
 * literal characters, `**` (and `{name=**}`) zero or more of them with `/` allowed; other text is
 * literal. It is matched against the whole path without the query string.
 */
import type { EnvoyJson } from '../../xds/types.ts';
import { PATH_MATCH } from '../../xds/type_urls.ts';
import { compileSafeRegex } from '../http/common/regex.ts';

/** Characters a path segment may hold (RFC 3986 pchar without '/', percent-escapes included). */
const SEGMENT = "[a-zA-Z0-9\\-._~%!$&'()+,;:@=]";
const ONE_SEGMENT = `${SEGMENT}+`;
const ANY_SEGMENTS = "[a-zA-Z0-9\\-._~%!$&'()+,;:@=/]*";

function escape(s: string): string {
  return s.replace(/[\\.+*?()|[\]{}^$]/g, (c) => `\\${c}`);
}

function translate(template: string, path: string, depth: number): string {
  let out = '';
  for (const tok of template.match(/\{[^}]*\}|\*\*|\*|[^*{]+|\{/g) ?? []) {
    if (tok === '**') out += ANY_SEGMENTS;
    else if (tok === '*') out += ONE_SEGMENT;
    else if (tok.startsWith('{')) {
      if (!tok.endsWith('}') || depth > 0) throw new Error(`${path}: malformed variable in path template ${JSON.stringify(template)}`);
      const eq = tok.indexOf('=');
      const name = tok.slice(1, eq < 0 ? -1 : eq);
      if (!/^[a-zA-Z][a-zA-Z0-9_]*$/.test(name)) throw new Error(`${path}: bad variable name ${JSON.stringify(name)} in path template ${JSON.stringify(template)}`);
      out += eq < 0 ? ONE_SEGMENT : translate(tok.slice(eq + 1, -1), path, depth + 1);
    } else out += escape(tok);
  }
  return out;
}

/** Compiles a uri_template TypedExtensionConfig into a predicate on the path (query removed). */
export function compileUriTemplate(ext: EnvoyJson, path: string): (urlPath: string) => boolean {
  const cfg = ext?.typed_config;
  const type = cfg?.['@type'];
  if (type !== PATH_MATCH.URI_TEMPLATE) throw new Error(`${path}.typed_config: unsupported path matcher ${type ?? '(none)'} (only ${PATH_MATCH.URI_TEMPLATE})`);
  const template = String(cfg.path_template ?? '');
  if (template.length === 0 || template.length > 256) throw new Error(`${path}.typed_config.path_template: must be 1 to 256 characters`);
  if ((template.match(/\*\*/g) ?? []).length > 1) throw new Error(`${path}.typed_config.path_template: ** may appear only once (it must be the last operator): ${JSON.stringify(template)}`);
  const re = compileSafeRegex({ regex: translate(template, `${path}.typed_config.path_template`, 0) }, `${path}.typed_config.path_template`);
  return (p) => re.matches(p);
}
