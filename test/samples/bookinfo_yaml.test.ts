// Our hand-written Bookinfo YAML must line up with Istio's bookinfo.yaml wherever Istio's
// networking configs depend on it: Service names, ports and port names, Deployment labels.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ISTIO_DATA } from '../helpers/istio_data.ts';

const ISTIO = `${ISTIO_DATA}/samples/bookinfo/platform/kube/bookinfo.yaml`;
const OURS = 'samples/bookinfo/config';

function docs(file: string): any[] {
  return parseAllDocuments(readFileSync(file, 'utf8'))
    .map((d) => {
      assert.equal(d.errors.length, 0, `${file}: ${d.errors.join('; ')}`);
      return d.toJS();
    })
    .filter((o) => o && typeof o === 'object');
}

function shape(objs: any[]) {
  const services = objs
    .filter((o) => o.kind === 'Service')
    .map((o) => ({ name: o.metadata.name, selector: o.spec.selector, ports: o.spec.ports.map((p: any) => ({ name: p.name, port: p.port })) }))
    .sort((a, b) => a.name.localeCompare(b.name));
  const deployments = objs
    .filter((o) => o.kind === 'Deployment')
    .map((o) => ({ name: o.metadata.name, labels: o.metadata.labels, podLabels: o.spec.template.metadata.labels, sa: o.spec.template.spec.serviceAccountName, containerPorts: o.spec.template.spec.containers.flatMap((c: any) => c.ports.map((p: any) => p.containerPort)) }))
    .sort((a, b) => a.name.localeCompare(b.name));
  const accounts = objs.filter((o) => o.kind === 'ServiceAccount').map((o) => o.metadata.name).sort();
  return { services, deployments, accounts };
}

test('Services, ServiceAccounts and Deployments match Istio\'s bookinfo.yaml', { skip: existsSync(ISTIO) ? false : `missing ${ISTIO}` }, () => {
  const istio = shape(docs(ISTIO));
  const ours = shape(docs(join(OURS, 'bookinfo.yaml')));
  assert.deepEqual(ours.services, istio.services);
  assert.deepEqual(ours.deployments, istio.deployments);
  assert.deepEqual(ours.accounts, istio.accounts);
  assert.deepEqual(ours.services.map((s) => s.name), ['details', 'productpage', 'ratings', 'reviews']);
});

test('gateway, destination rules and networking files are Istio networking.istio.io/v1 YAML', () => {
  const gw = docs(join(OURS, 'bookinfo-gateway.yaml'));
  const gateway = gw.find((o) => o.kind === 'Gateway');
  assert.equal(gateway.metadata.name, 'bookinfo-gateway');
  assert.deepEqual(gateway.spec.selector, { istio: 'ingressgateway' });
  assert.deepEqual(gateway.spec.servers[0].port, { name: 'http', number: 8080, protocol: 'HTTP' });
  const vs = gw.find((o) => o.kind === 'VirtualService');
  assert.equal(vs.metadata.name, 'bookinfo');
  assert.deepEqual(vs.spec.gateways, ['bookinfo-gateway']);
  assert.deepEqual(vs.spec.http[0].match.map((m: any) => m.uri), [{ exact: '/productpage' }, { prefix: '/static' }, { exact: '/login' }, { exact: '/logout' }, { prefix: '/api/v1/products' }]);
  assert.deepEqual(vs.spec.http[0].route[0].destination, { host: 'productpage', port: { number: 9080 } });

  const drs = docs(join(OURS, 'destination-rule-all.yaml'));
  const reviews = drs.find((o) => o.metadata.name === 'reviews');
  assert.deepEqual(reviews.spec.subsets.map((s: any) => [s.name, s.labels.version]), [['v1', 'v1'], ['v2', 'v2'], ['v3', 'v3']]);

  const subsets = new Map<string, Set<string>>(drs.map((d) => [d.spec.host, new Set(d.spec.subsets.map((s: any) => s.name))]));
  const files = readdirSync(join(OURS, 'networking')).filter((f) => f.endsWith('.yaml'));
  assert.ok(files.length >= 4);
  for (const f of [...files.map((f) => join(OURS, 'networking', f)), join(OURS, 'bookinfo-gateway.yaml'), join(OURS, 'destination-rule-all.yaml')]) {
    for (const o of docs(f)) {
      assert.equal(o.apiVersion, 'networking.istio.io/v1', f);
      assert.ok(o.metadata?.name, f);
      // Every subset a route names is declared by destination-rule-all.yaml.
      for (const h of o.kind === 'VirtualService' ? o.spec.http : []) {
        for (const r of h.route) if (r.destination.subset) assert.ok(subsets.get(r.destination.host)?.has(r.destination.subset), `${f}: ${r.destination.host}/${r.destination.subset}`);
      }
    }
  }
});
