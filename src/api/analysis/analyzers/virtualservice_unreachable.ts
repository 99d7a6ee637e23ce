/**
 * Istio's VirtualService rule checks, run with schema validation: a rule after a match-less
 * rule, or whose every match an earlier rule already took, is never used (IST0130); a match
 * equal to, or a URI prefix covered by, an earlier one is ineffective (IST0131).
 */
import type { AnalysisContext, Resource } from '../types.ts';

const q = (s: string) => JSON.stringify(s);
const ruleName = (r: any, n: number) => (typeof r?.name === 'string' && r.name ? q(r.name) : `#${n}`);
const matchName = (m: any, n: number) => (typeof m?.name === 'string' && m.name ? q(m.name) : `#${n}`);

/** A match as it routes: its name does not count. */
function canonical(v: unknown): string {
  const sort = (x: any): any => (Array.isArray(x) ? x.map(sort) : x && typeof x === 'object' ? Object.fromEntries(Object.keys(x).filter((k) => k !== 'name').sort().map((k) => [k, sort(x[k])])) : x);
  return JSON.stringify(sort(v));
}

/** Whether `earlier` (a uri prefix match) takes every request `later` (a longer prefix) would. */
function prefixCovers(earlier: any, later: any): boolean {
  const p1 = earlier?.uri?.prefix;
  const p2 = later?.uri?.prefix;
  if (typeof p1 !== 'string' || typeof p2 !== 'string' || !p2.startsWith(p1) || Object.keys(earlier.uri).length !== 1) return false;
  for (const k of Object.keys(earlier)) {
    if (k === 'uri' || k === 'name') continue;
    if (canonical(earlier[k]) !== canonical(later[k])) return false;
  }
  return true;
}

function analyzeRules(ctx: AnalysisContext, vs: Resource, routes: unknown, http: boolean): void {
  if (!Array.isArray(routes)) return;
  const seen = new Map<string, number>();
  const earlier: { match: any; rule: number; n: number }[] = [];
  let emptySeen = false;
  routes.forEach((route: any, rn) => {
    if (!route || typeof route !== 'object') return;
    const matches: any[] = Array.isArray(route.match) ? route.match : [];
    if (matches.length === 0) {
      if (emptySeen) ctx.report('VirtualServiceUnreachableRule', vs, [ruleName(route, rn), 'only the last rule can have no matches']);
      emptySeen = true;
      return;
    }
    let dups = 0;
    matches.forEach((m, mn) => {
      const key = canonical(m);
      const dup = seen.get(key);
      if (dup !== undefined) {
        ctx.report('VirtualServiceIneffectiveMatch', vs, [ruleName(route, rn), matchName(m, mn), ruleName(routes[dup], dup)]);
        dups++;
      } else {
        seen.set(key, rn);
        const cover = http ? earlier.find((e) => prefixCovers(e.match, m)) : undefined;
        if (cover) {
          ctx.report('VirtualServiceIneffectiveMatch', vs, [ruleName(route, rn), `${matchName(m, mn)} of prefix ${m.uri.prefix}`, `#${cover.n} of prefix ${cover.match.uri.prefix} on ${ruleName(routes[cover.rule], cover.rule)}`]);
        }
      }
      earlier.push({ match: m, rule: rn, n: mn });
    });
    if (dups === matches.length) ctx.report('VirtualServiceUnreachableRule', vs, [ruleName(route, rn), 'all matches used by prior rules']);
  });
}

export function analyzeUnreachableRules(ctx: AnalysisContext): void {
  for (const vs of ctx.list('networking.istio.io/VirtualService')) {
    analyzeRules(ctx, vs, vs.spec.http, true);
    analyzeRules(ctx, vs, vs.spec.tcp, false);
    analyzeRules(ctx, vs, vs.spec.tls, false);
  }
}
