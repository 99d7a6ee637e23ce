/**
 * serviceentry.ConflictingServiceEntryProtocolAnalyzer (IST0177): ServiceEntries that a namespace
 * sees together (by exportTo) and that declare the same host and port with different protocols;
 * the proxy can build only one listener for it. Each of them is reported with the whole group.
 */
import type { Analyzer, Resource } from '../types.ts';
import { arr, exportVisibility, nsName, obj, sortStrings, str, visibilityOverlaps, type Visibility } from './wl_util.ts';

interface Entry {
  se: Resource;
  protocol: string;
  vis: Visibility;
}

export const conflictingServiceEntryProtocolAnalyzer: Analyzer = {
  name: 'serviceentry.ConflictingServiceEntryProtocolAnalyzer',
  description: 'Checks if multiple ServiceEntries define the same host and port with different protocols',
  analyze(ctx) {
    const defaultExportTo = arr(ctx.meshConfig.defaultServiceExportTo).map(str);
    const groups = new Map<string, { host: string; port: number; entries: Entry[] }>();
    for (const se of ctx.list('networking.istio.io/ServiceEntry')) {
      const vis = exportVisibility(se, defaultExportTo.length > 0 ? defaultExportTo : ['*']);
      for (const host of new Set(arr(se.spec.hosts).map(str))) {
        for (const p of arr(se.spec.ports)) {
          const port = Number(obj(p).number);
          if (!Number.isInteger(port)) continue;
          const key = `${host}\0${port}`;
          let g = groups.get(key);
          if (!g) groups.set(key, (g = { host, port, entries: [] }));
          if (g.entries.some((e) => e.se === se)) continue;
          g.entries.push({ se, protocol: str(obj(p).protocol).toUpperCase(), vis });
        }
      }
    }
    for (const g of groups.values()) {
      for (const component of visibleTogether(g.entries)) {
        const protocols = sortStrings([...new Set(component.map((e) => e.protocol))]);
        if (protocols.length < 2) continue;
        const names = sortStrings(component.map((e) => nsName(e.se))).join(', ');
        for (const e of component) {
          ctx.report('ConflictingServiceEntryProtocol', e.se, [names, g.host, g.port, protocols.join(', ')], 'metadata.name');
        }
      }
    }
  },
};

/** Groups entries into sets linked by "some namespace sees both" (connected components). */
function visibleTogether(entries: Entry[]): Entry[][] {
  const seen = new Set<Entry>();
  const out: Entry[][] = [];
  for (const start of entries) {
    if (seen.has(start)) continue;
    const comp: Entry[] = [];
    const stack = [start];
    seen.add(start);
    while (stack.length > 0) {
      const e = stack.pop()!;
      comp.push(e);
      for (const o of entries) {
        if (!seen.has(o) && visibilityOverlaps(e.vis, o.vis)) {
          seen.add(o);
          stack.push(o);
        }
      }
    }
    if (comp.length > 1) out.push(comp);
  }
  return out;
}
