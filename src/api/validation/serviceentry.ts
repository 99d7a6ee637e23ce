/**
 * ServiceEntry, WorkloadEntry and WorkloadGroup rules: hosts, ports, resolution vs endpoints
 * and addresses, endpoint addresses (IP, DNS name or unix socket).
 */
import { isIP } from 'node:net';
import {
  Problems, arr, checkExportTo, checkHost, checkLabels, checkNonNegative, checkPort, checkProtocol, checkSelector,
  child, hostProblem, isIPOrCidr, isPortName, isSet, obj, str, type Obj,
} from './common.ts';

export function validateServiceEntry(spec: Obj, p: Problems): void {
  const resolution = str(spec.resolution) ?? 'NONE';
  const hosts = arr(spec.hosts);
  if (hosts.length === 0) p.err('spec.hosts', 'service entry must have at least one host');
  hosts.forEach((h, i) => {
    const hp = child('spec.hosts', i);
    if (h === '*') p.err(hp, 'hostname cannot be wildcard "*"');
    else checkHost(p, hp, h);
  });

  const addresses = arr(spec.addresses);
  addresses.forEach((a, i) => {
    if (typeof a !== 'string') return;
    const ap = child('spec.addresses', i);
    if (!isIPOrCidr(a)) p.err(ap, `"${a}" is not a valid IP address or CIDR block`);
    else if (a.includes('/') && resolution !== 'NONE' && resolution !== 'STATIC') p.err(ap, 'CIDR addresses are allowed only for NONE/STATIC resolution types');
  });

  const portNames = new Set<string>();
  const portNumbers = new Map<number, number>();
  arr(spec.ports).forEach((port, i) => {
    const pp = child('spec.ports', i);
    const po = obj(port);
    if (!po) return;
    if (po.number === undefined) p.err(child(pp, 'number'), 'port number is required');
    const n = checkPort(p, child(pp, 'number'), po.number);
    if (n !== undefined) {
      const prev = portNumbers.get(n);
      if (prev !== undefined) p.err(child(pp, 'number'), `port number cannot be duplicated: ${n} (also spec.ports[${prev}])`);
      else portNumbers.set(n, i);
    }
    const name = str(po.name);
    if (name === undefined || name === '') p.err(child(pp, 'name'), 'port name is required');
    else {
      if (!isPortName(name)) p.err(child(pp, 'name'), `port name "${name}" must be valid (letters, digits and "-", at most 62)`);
      if (portNames.has(name)) p.err(child(pp, 'name'), `duplicate port name "${name}"`);
      portNames.add(name);
    }
    if (po.protocol !== undefined) checkProtocol(p, child(pp, 'protocol'), po.protocol);
    checkPort(p, child(pp, 'targetPort'), po.targetPort, { allowZero: true });
  });

  const endpoints = arr(spec.endpoints);
  if (isSet(spec.workloadSelector) && endpoints.length > 0) p.err('spec', 'only one of WorkloadSelector or Endpoints can be set');
  checkSelector(p, 'spec.workloadSelector', spec.workloadSelector, 'labels');
  checkExportTo(p, 'spec.exportTo', spec.exportTo);

  switch (resolution) {
    case 'NONE':
      if (endpoints.length > 0) p.err('spec.endpoints', 'NONE mode cannot set endpoints');
      break;
    case 'STATIC':
      if (endpoints.length === 0 && !isSet(spec.workloadSelector)) p.err('spec.endpoints', 'STATIC resolution needs endpoints or a workloadSelector');
      break;
    case 'DNS':
    case 'DNS_ROUND_ROBIN':
      if (endpoints.length === 0) {
        hosts.forEach((h, i) => {
          if (typeof h === 'string' && h.startsWith('*')) p.err(child('spec.hosts', i), `hosts must be FQDN if no endpoints are provided for resolution mode ${resolution}`);
        });
      }
      if (resolution === 'DNS_ROUND_ROBIN' && endpoints.length > 1) p.err('spec.endpoints', 'DNS_ROUND_ROBIN mode cannot have multiple endpoints');
      break;
  }

  endpoints.forEach((e, i) => {
    const eo = obj(e);
    if (!eo) return;
    const ep = child('spec.endpoints', i);
    validateWorkloadEntrySpec(eo, ep, p, { resolution, portNames: spec.ports === undefined ? undefined : portNames });
  });
}

export function validateWorkloadEntry(spec: Obj, p: Problems): void {
  validateWorkloadEntrySpec(spec, 'spec', p, {});
}

export function validateWorkloadGroup(spec: Obj, p: Problems): void {
  const meta = obj(spec.metadata);
  if (meta) checkLabels(p, 'spec.metadata.labels', meta.labels);
  const template = obj(spec.template);
  if (!template) p.err('spec.template', 'template is required');
  else validateWorkloadEntrySpec(template, 'spec.template', p, { template: true });
  const probe = obj(spec.probe);
  if (probe) {
    const kinds = ['httpGet', 'tcpSocket', 'exec', 'grpc'].filter((k) => isSet(probe[k]));
    if (kinds.length !== 1) p.err('spec.probe', `a probe needs exactly one of httpGet, tcpSocket, exec, grpc${kinds.length ? ` (found ${kinds.join(' and ')})` : ''}`);
    const hg = obj(probe.httpGet);
    if (hg) {
      checkPort(p, 'spec.probe.httpGet.port', hg.port);
      if (hg.port === undefined) p.err('spec.probe.httpGet.port', 'port is required');
      const scheme = str(hg.scheme);
      if (scheme && scheme !== 'HTTP' && scheme !== 'HTTPS') p.err('spec.probe.httpGet.scheme', 'scheme must be one of [HTTP, HTTPS]');
    }
    const tcp = obj(probe.tcpSocket);
    if (tcp) checkPort(p, 'spec.probe.tcpSocket.port', tcp.port);
    const exec = obj(probe.exec);
    if (exec && !isSet(exec.command)) p.err('spec.probe.exec.command', 'command is required');
    for (const f of ['initialDelaySeconds', 'timeoutSeconds', 'periodSeconds', 'successThreshold', 'failureThreshold']) checkNonNegative(p, child('spec.probe', f), probe[f]);
  }
}

/** Shared by WorkloadEntry, ServiceEntry endpoints and WorkloadGroup templates. */
function validateWorkloadEntrySpec(
  e: Obj,
  path: string,
  p: Problems,
  ctx: { resolution?: string; portNames?: Set<string>; template?: boolean },
): void {
  const address = str(e.address);
  if (!ctx.template) {
    if ((address === undefined || address === '') && !isSet(e.network)) p.err(child(path, 'address'), 'Address is required');
  }
  if (address) {
    if (address.startsWith('unix://')) {
      const sock = address.slice('unix://'.length);
      if (!(sock.startsWith('/') || sock.startsWith('@'))) p.err(child(path, 'address'), 'UDS must be an absolute path or abstract socket');
      if (sock.endsWith('/')) p.err(child(path, 'address'), 'UDS may not be a dir');
      if (isSet(e.ports)) p.err(child(path, 'ports'), 'UDS may not include ports');
    } else if (ctx.resolution === 'STATIC' && isIP(address) === 0) {
      p.err(child(path, 'address'), `endpoint address "${address}" must be an IP address for STATIC resolution`);
    } else if (isIP(address) === 0) {
      const bad = hostProblem(address, { allowIP: true });
      if (bad || address.includes('*')) p.err(child(path, 'address'), `address "${address}" must be an IP address, a DNS name or a unix:// path`);
    }
  }
  const ports = obj(e.ports);
  if (ports) for (const [name, num] of Object.entries(ports)) {
    const pp = child(child(path, 'ports'), name);
    if (!isPortName(name)) p.err(pp, `port name "${name}" must be valid`);
    checkPort(p, pp, num);
    if (ctx.portNames && !ctx.portNames.has(name)) p.err(pp, `endpoint port "${name}" is not defined by the service entry`);
  }
  checkLabels(p, child(path, 'labels'), e.labels);
  checkNonNegative(p, child(path, 'weight'), e.weight);
  if (typeof e.serviceAccount === 'string' && e.serviceAccount !== '' && !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(e.serviceAccount)) {
    p.err(child(path, 'serviceAccount'), `invalid service account name "${e.serviceAccount}"`);
  }
}
