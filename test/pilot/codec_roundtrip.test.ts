/**
 * Every resource pilot generates must survive Envoy's protobuf encoding unchanged (the codec is
 * strict: an unknown field or a wrong type throws), or a real Envoy would NACK it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { generate } from '../../src/pilot/generator.ts';
import { stableStringify } from '../../src/pilot/util.ts';
import { decodeResource, encodeResource } from '../../src/xds/codec.ts';
import { TYPE, type TypeUrl } from '../../src/xds/types.ts';
import { BOOKINFO_NETWORKING, MESH, bookinfoPush, bookinfoProxy } from './fixtures.ts';

/** proto3 drops empty repeated fields; that is the only difference a round trip may make. */
function dropEmptyArrays(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(dropEmptyArrays);
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).filter(([, x]) => !(Array.isArray(x) && x.length === 0)).map(([k, x]) => [k, dropEmptyArrays(x)]));
  }
  return v;
}

// RDS output belongs to the route builder and is checked by its own tests.
const TYPES: TypeUrl[] = [TYPE.CLUSTER, TYPE.ENDPOINT, TYPE.LISTENER];
const samples = readdirSync(BOOKINFO_NETWORKING).filter((f) => f.endsWith('.yaml'));

test('every bookinfo resource (all samples, sidecar and gRPC) round-trips through the codec', () => {
  let count = 0;
  for (const sample of [undefined, ...samples]) {
    const { push, workloads } = bookinfoPush(sample ? ['destination-rule-all.yaml', sample] : [], { ...MESH, accessLogFile: '/dev/stdout' });
    for (const extra of [{}, { GENERATOR: 'grpc' }]) {
      const proxy = bookinfoProxy(workloads, 'productpage', extra);
      for (const t of TYPES) {
        for (const r of generate(push, proxy, t)) {
          const back = decodeResource(t, encodeResource(t, r.resource));
          assert.equal(stableStringify(back), stableStringify(dropEmptyArrays(r.resource)), `${sample ?? 'base'} ${t} ${r.name}`);
          count++;
        }
      }
    }
  }
  assert.ok(count > 400, `only ${count} resources checked`);
});
