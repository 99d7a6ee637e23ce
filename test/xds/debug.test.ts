/** /debug endpoints over a real HTTP server, with a SotW client in a known state. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { debugHandler } from '../../src/xds/debug.ts';
import { TYPE } from '../../src/xds/types.ts';
import { A, B, NODE, newWorld, openSotw, sotwBarrier, sreq, startServer } from './fixtures.ts';

async function serve(handler: ReturnType<typeof debugHandler>): Promise<{ http: Server; base: string }> {
  const http = createServer((req, res) => {
    if (!handler(req, res)) {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const addr = http.address() as { port: number };
  return { http, base: `http://127.0.0.1:${addr.port}` };
}

test('debug: syncz shows ACKed versions and the NACK; config_dump, configz, registryz', async () => {
  const world = newWorld();
  const { server, address } = await startServer(world);
  const s = openSotw(address);
  const { http, base } = await serve(debugHandler(server, { configz: () => ({ kinds: ['VirtualService'] }), registryz: () => ({ services: 2 }) }));
  try {
    s.send(sreq(TYPE.CLUSTER, [], '', '', { node: NODE }));
    const cds = await s.next(TYPE.CLUSTER);
    s.send(sreq(TYPE.CLUSTER, [], cds.version_info, cds.nonce));
    s.send(sreq(TYPE.ENDPOINT, [A, B]));
    const eds = await s.next(TYPE.ENDPOINT);
    s.send(sreq(TYPE.ENDPOINT, [A, B], '', eds.nonce, { error_detail: { code: 3, message: 'bad endpoints' } }));
    await sotwBarrier(s);

    const syncz = (await (await fetch(`${base}/debug/syncz`)).json()) as any[];
    assert.equal(syncz.length, 1);
    assert.equal(syncz[0].proxyId, NODE.id);
    assert.equal(syncz[0].types[TYPE.CLUSTER].ackedVersion, cds.version_info);
    assert.equal(syncz[0].types[TYPE.CLUSTER].sentNonce, cds.nonce);
    assert.equal(syncz[0].types[TYPE.ENDPOINT].ackedVersion, '');
    assert.equal(syncz[0].types[TYPE.ENDPOINT].lastNack.message, 'bad endpoints');

    const conns = (await (await fetch(`${base}/debug/connections`)).json()) as any[];
    assert.equal(conns[0].node.id, NODE.id);
    assert.ok(conns[0].watches.includes(TYPE.ENDPOINT));

    const dump = (await (await fetch(`${base}/debug/config_dump?proxyID=${encodeURIComponent(NODE.id)}`)).json()) as any;
    assert.deepEqual(dump[TYPE.CLUSTER].map((c: any) => c.name), [A, B]);
    assert.deepEqual(dump[TYPE.ENDPOINT].map((c: any) => c.cluster_name), [A, B]);
    assert.equal((await fetch(`${base}/debug/config_dump?proxyID=nobody`)).status, 404);
    assert.equal((await fetch(`${base}/debug/config_dump`)).status, 400);
    assert.deepEqual(await (await fetch(`${base}/debug/configz`)).json(), { kinds: ['VirtualService'] });
    assert.deepEqual(await (await fetch(`${base}/debug/registryz`)).json(), { services: 2 });
    assert.equal((await fetch(`${base}/other`)).status, 404);
  } finally {
    s.close();
    await new Promise((r) => http.close(r));
    await server.close();
  }
});
