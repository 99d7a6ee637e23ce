/**
 * CertificateValidationContext.match_typed_subject_alt_names: the peer certificate is accepted
 * only if one of its subject alternative names of the matcher's type (EMAIL, DNS, URI,
 * IP_ADDRESS) satisfies one of the matchers (Envoy: "at least one of the SANs must match one of
 * the matchers"). This is how an Istio proxy checks the SPIFFE identity of the other side.
 * Matchers compile once (regexes on RE2, via the one string matcher); checks run per handshake.
 */
import type { EnvoyJson } from '../../xds/types.ts';
import { compileStringMatcher, type StringPredicate } from '../http/common/string_matcher.ts';

export type SanType = 'EMAIL' | 'DNS' | 'URI' | 'IP_ADDRESS';

/** How node:tls names each type in `subjectaltname` ("DNS:a, URI:spiffe://..., IP Address:1.2.3.4"). */
const NODE_PREFIX: Record<string, SanType> = { DNS: 'DNS', URI: 'URI', 'IP Address': 'IP_ADDRESS', email: 'EMAIL' };

/** Checks a peer certificate's SANs; returns why it is rejected, or undefined when it matches. */
export type SanCheck = (subjectaltname: string | undefined) => string | undefined;

/** Parses node's `subjectaltname` string (values may be JSON-quoted when they contain commas). */
export function parseSubjectAltName(san: string | undefined): { type: SanType; value: string }[] {
  const out: { type: SanType; value: string }[] = [];
  if (!san) return out;
  const re = /(DNS|URI|IP Address|email|othername|DirName|Registered ID):("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)/g;
  for (const m of san.matchAll(re)) {
    const type = NODE_PREFIX[m[1]!];
    if (!type) continue;
    let value = m[2]!;
    if (value.startsWith('"')) {
      try {
        value = JSON.parse(value) as string;
      } catch {
        continue;
      }
    }
    out.push({ type, value });
  }
  return out;
}

/** Compiles the matchers of a validation context; undefined when it has none (no SAN check). */
export function compileSanMatchers(vc: EnvoyJson | undefined, path: string): SanCheck | undefined {
  const list: EnvoyJson[] = vc?.match_typed_subject_alt_names ?? [];
  if (list.length === 0) return undefined;
  const matchers: { type: SanType; test: StringPredicate; text: string }[] = list.map((m, i) => {
    const type = m.san_type as SanType;
    if (!['EMAIL', 'DNS', 'URI', 'IP_ADDRESS'].includes(type)) throw new Error(`${path}.match_typed_subject_alt_names[${i}].san_type: ${String(type)} is not supported`);
    return { type, test: compileStringMatcher(m.matcher ?? {}, `${path}.match_typed_subject_alt_names[${i}].matcher`), text: `${type} ${JSON.stringify(m.matcher)}` };
  });
  return (subjectaltname) => {
    const sans = parseSubjectAltName(subjectaltname);
    for (const m of matchers) for (const s of sans) if (s.type === m.type && m.test(s.value)) return undefined;
    return `peer certificate SANs [${subjectaltname ?? ''}] match none of ${matchers.map((m) => m.text).join(', ')}`;
  };
}
