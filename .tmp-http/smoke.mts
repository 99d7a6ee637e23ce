import { startHcm, hcmConfig, startUpstream, request } from '../test/proxy/http/harness.ts';
const up = await startUpstream('a');
const p = await startHcm(hcmConfig({ name: 'rc', virtual_hosts: [{ name: 'vh', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'a' } }] }] }), [{ name: 'a', ports: [up.port] }]);
const r = await request(p.port, { path: '/hello?x=1', headers: { 'x-foo': 'bar' } });
console.log(r.status, r.headers, r.body);
const r2 = await request(p.port, { method: 'POST', path: '/post', body: 'hello body' });
console.log(r2.status, JSON.parse(r2.body).body);
console.log(p.stats.values, p.completed.map(c => [c.responseCode, c.responseFlags]));
await p.close(); await up.close();
