/**
 * Sidecar rules: egress listeners with `namespace/host` hosts, ingress listeners with a port
 * and a default endpoint.
 */
import { Problems, arr, checkNamespacedHost, checkPort, checkProtocol, checkSelector, child, isSet, obj, str, type Obj } from './common.ts';
import { validateConnectionPool } from './destinationrule.ts';
import { validateEgressProxy } from './egress_proxy.ts';

const DEFAULT_ENDPOINT = /^(127\.0\.0\.1|0\.0\.0\.0|\[::1\]|\[::\]):(\d+)$/;

export function validateSidecar(spec: Obj, p: Problems): void {
  checkSelector(p, 'spec.workloadSelector', spec.workloadSelector, 'labels');
  const egress = arr(spec.egress);
  const ingress = arr(spec.ingress);
  if (egress.length === 0 && ingress.length === 0 && !isSet(spec.outboundTrafficPolicy) && !isSet(spec.inboundConnectionPool)) {
    p.err('spec', 'sidecar: empty configuration provided');
  }

  validateConnectionPool(obj(spec.inboundConnectionPool), 'spec.inboundConnectionPool', p);
  validateEgressProxy(spec, p);

  const portless: number[] = [];
  egress.forEach((l, i) => {
    const lp = child('spec.egress', i);
    const lo = obj(l);
    if (!lo) return;
    const hosts = arr(lo.hosts);
    if (hosts.length === 0) p.err(child(lp, 'hosts'), 'sidecar: egress listener must have at least one host');
    hosts.forEach((h, j) => checkNamespacedHost(p, child(child(lp, 'hosts'), j), h, { requireNamespace: true, allowNone: true }));
    const port = obj(lo.port);
    if (port) validatePort(port, child(lp, 'port'), p);
    else portless.push(i);
    checkBind(lo.bind, child(lp, 'bind'), p);
  });
  if (portless.length > 1) p.err('spec.egress', `sidecar: only one egress listener may omit the port (found ${portless.length})`);
  if (portless.length === 1 && portless[0] !== egress.length - 1) p.err(child('spec.egress', portless[0]), 'sidecar: the egress listener with empty port should be the last listener in the list');

  const ingressPorts = new Map<number, number>();
  ingress.forEach((l, i) => {
    const lp = child('spec.ingress', i);
    const lo = obj(l);
    if (!lo) return;
    validateConnectionPool(obj(lo.connectionPool), child(lp, 'connectionPool'), p);
    const port = obj(lo.port);
    if (!port) p.err(child(lp, 'port'), 'sidecar: ingress listener port is required');
    else {
      const n = validatePort(port, child(lp, 'port'), p);
      if (n !== undefined) {
        const prev = ingressPorts.get(n);
        if (prev !== undefined) p.err(`${lp}.port.number`, `sidecar: ports on IP bound listeners must be unique: ${n} (also spec.ingress[${prev}])`);
        else ingressPorts.set(n, i);
      }
    }
    const ep = str(lo.defaultEndpoint);
    if (ep) {
      if (ep.startsWith('unix://')) {
        // Valid as Istio's; that tsmesh does not build such a listener is a not-enforced warning
        // from the support table (src/api/fields/support.ts).
        if (!ep.slice(7).startsWith('/') && !ep.slice(7).startsWith('@')) p.err(child(lp, 'defaultEndpoint'), 'UDS must be an absolute path or abstract socket');
      } else {
        const m = DEFAULT_ENDPOINT.exec(ep);
        if (!m) p.err(child(lp, 'defaultEndpoint'), `defaultEndpoint "${ep}" must be 127.0.0.1:PORT, 0.0.0.0:PORT, [::1]:PORT, [::]:PORT or unix:///path`);
        else checkPort(p, child(lp, 'defaultEndpoint'), Number(m[2]));
      }
    }
    checkBind(lo.bind, child(lp, 'bind'), p);
  });
}

function validatePort(port: Obj, path: string, p: Problems): number | undefined {
  if (port.number === undefined) p.err(child(path, 'number'), 'port number is required');
  const n = checkPort(p, child(path, 'number'), port.number);
  if (port.protocol !== undefined) checkProtocol(p, child(path, 'protocol'), port.protocol);
  return n;
}

function checkBind(v: unknown, path: string, p: Problems): void {
  const b = str(v);
  if (b && !b.startsWith('unix://') && !/^[0-9a-fA-F:.]+$/.test(b)) p.err(path, `bind "${b}" must be an IP address or a unix:// path`);
}
