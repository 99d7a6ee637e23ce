/**
 * serviceentry.Analyzer (IST0134): a ServiceEntry port serving TCP (or no protocol) needs a VIP
 * to be told apart from other TCP traffic on that port, unless addresses were allocated for it
 * (status.addresses) or the mesh's DNS proxy auto-allocates them
 * (ISTIO_META_DNS_CAPTURE and ISTIO_META_DNS_AUTO_ALLOCATE both "true" in proxyMetadata).
 */
import type { Analyzer } from '../types.ts';
import { arr, obj, str } from './wl_util.ts';

export const serviceEntryAddressesAnalyzer: Analyzer = {
  name: 'serviceentry.Analyzer',
  description: 'Checks the validity of ServiceEntry',
  analyze(ctx) {
    const md = obj(obj(ctx.meshConfig.defaultConfig).proxyMetadata);
    if (str(md.ISTIO_META_DNS_CAPTURE) === 'true' && str(md.ISTIO_META_DNS_AUTO_ALLOCATE) === 'true') return;
    for (const se of ctx.list('networking.istio.io/ServiceEntry')) {
      if (arr(se.spec.addresses).length > 0) continue;
      if (arr(obj(se.object.status).addresses).length > 0) continue;
      arr(se.spec.ports).forEach((p, i) => {
        const proto = str(obj(p).protocol).toUpperCase();
        if (proto === '' || proto === 'TCP') ctx.report('ServiceEntryAddressesRequired', se, [], `spec.ports[${i}].name`);
      });
    }
  },
};
