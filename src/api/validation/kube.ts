/**
 * Light, hand-written checks for the Kubernetes kinds tsmesh reads (no schema package for them):
 * the fields the registry and injector rely on.
 */
import { secretMaterial } from '../secret.ts';
import { Problems, arr, checkLabels, checkPort, child, isDns1035Label, isSet, num, obj, str, type Obj } from './common.ts';

const SERVICE_TYPES = ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'];
const PORT_PROTOCOLS = ['TCP', 'UDP', 'SCTP'];
// IANA service names: what a named targetPort / containerPort name may be.
const IANA_SVC_NAME = /^(?=.*[a-z])[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$/;

export function validateService(spec: Obj, p: Problems): void {
  const type = str(spec.type) ?? 'ClusterIP';
  if (!SERVICE_TYPES.includes(type)) p.err('spec.type', `unknown Service type "${type}"; must be one of ${SERVICE_TYPES.join(', ')}`);
  if (type === 'ExternalName' && !isSet(spec.externalName)) p.err('spec.externalName', 'externalName is required for type ExternalName');
  if (spec.ports !== undefined && !Array.isArray(spec.ports)) p.err('spec.ports', 'must be a list');
  const ports = arr(spec.ports);
  if (ports.length === 0 && type !== 'ExternalName' && spec.clusterIP !== 'None') p.err('spec.ports', 'a Service needs at least one port');
  const names = new Map<string, number>();
  ports.forEach((port, i) => {
    const pp = child('spec.ports', i);
    const po = obj(port);
    if (!po) {
      p.err(pp, 'must be an object');
      return;
    }
    if (po.port === undefined) p.err(child(pp, 'port'), 'port is required');
    else if (typeof po.port !== 'number' || !Number.isInteger(po.port)) p.err(child(pp, 'port'), `must be an integer, got ${JSON.stringify(po.port)}`);
    else checkPort(p, child(pp, 'port'), po.port);
    const name = po.name;
    if (name === undefined || name === '') {
      if (ports.length > 1) p.err(child(pp, 'name'), 'port name is required when a Service has more than one port');
    } else if (typeof name !== 'string' || !isDns1035Label(name)) {
      p.err(child(pp, 'name'), `invalid port name ${JSON.stringify(name)} (lowercase letters, digits and "-", starting with a letter)`);
    } else {
      const prev = names.get(name);
      if (prev !== undefined) p.err(child(pp, 'name'), `duplicate port name "${name}" (also spec.ports[${prev}])`);
      else names.set(name, i);
    }
    checkTargetPort(po.targetPort, child(pp, 'targetPort'), p);
    if (po.protocol !== undefined && !PORT_PROTOCOLS.includes(po.protocol)) p.err(child(pp, 'protocol'), `protocol must be one of ${PORT_PROTOCOLS.join(', ')}`);
    if (po.nodePort !== undefined) checkPort(p, child(pp, 'nodePort'), po.nodePort);
    if (po.appProtocol !== undefined && typeof po.appProtocol !== 'string') p.err(child(pp, 'appProtocol'), 'must be a string');
  });
  checkStringMap(spec.selector, 'spec.selector', p);
  checkLabels(p, 'spec.selector', spec.selector);
}

function checkTargetPort(v: unknown, path: string, p: Problems): void {
  if (v === undefined) return;
  if (typeof v === 'number') checkPort(p, path, v);
  else if (typeof v === 'string') {
    if (/^\d+$/.test(v)) checkPort(p, path, Number(v));
    else if (!IANA_SVC_NAME.test(v)) p.err(path, `named port "${v}" must be an IANA service name (at most 15 lowercase letters, digits and "-")`);
  } else p.err(path, `must be a port number or name, got ${JSON.stringify(v)}`);
}

export function validateDeployment(spec: Obj, p: Problems): void {
  const replicas = num(spec.replicas);
  if (spec.replicas !== undefined && (replicas === undefined || replicas < 0 || !Number.isInteger(replicas))) p.err('spec.replicas', 'must be a non-negative integer');
  const selector = obj(spec.selector);
  const matchLabels = obj(selector?.matchLabels);
  if (!selector) p.err('spec.selector', 'selector is required');
  else if (!matchLabels && !isSet(selector.matchExpressions)) p.err('spec.selector', 'selector must have matchLabels or matchExpressions');
  checkStringMap(selector?.matchLabels, 'spec.selector.matchLabels', p);
  const template = obj(spec.template);
  if (!template) {
    p.err('spec.template', 'template is required');
    return;
  }
  const labels = obj(obj(template.metadata)?.labels) ?? {};
  checkStringMap(labels, 'spec.template.metadata.labels', p);
  checkLabels(p, 'spec.template.metadata.labels', labels);
  if (matchLabels) {
    for (const [k, v] of Object.entries(matchLabels)) {
      if (labels[k] !== v) p.err('spec.template.metadata.labels', `selector does not match template labels: ${k}=${v} is missing`);
    }
  }
  const pod = obj(template.spec);
  const containers = arr(pod?.containers);
  if (containers.length === 0) p.err('spec.template.spec.containers', 'at least one container is required');
  const names = new Set<string>();
  containers.forEach((c, i) => {
    const cp = child('spec.template.spec.containers', i);
    const co = obj(c);
    if (!co) return;
    const name = str(co.name);
    if (!name) p.err(child(cp, 'name'), 'container name is required');
    else if (names.has(name)) p.err(child(cp, 'name'), `duplicate container name "${name}"`);
    else names.add(name);
    if (!isSet(co.image)) p.err(child(cp, 'image'), 'image is required');
    arr(co.ports).forEach((port, j) => {
      const pp = child(child(cp, 'ports'), j);
      const po = obj(port);
      if (!po) return;
      if (typeof po.containerPort !== 'number') p.err(child(pp, 'containerPort'), `containerPort must be a number, got ${JSON.stringify(po.containerPort)}`);
      else checkPort(p, child(pp, 'containerPort'), po.containerPort);
      if (po.name !== undefined && (typeof po.name !== 'string' || !IANA_SVC_NAME.test(po.name))) p.err(child(pp, 'name'), `invalid port name ${JSON.stringify(po.name)}`);
    });
  });
}

function checkStringMap(v: unknown, path: string, p: Problems): void {
  const o = obj(v);
  if (!o) return;
  for (const [k, val] of Object.entries(o)) {
    if (typeof val !== 'string') p.err(child(path, k), `label values must be strings, got ${JSON.stringify(val)} (quote it)`);
  }
}

const SECRET_TYPES = ['Opaque', 'kubernetes.io/tls'];

/** A Secret is read only for TLS material (gateway and DestinationRule credentialName). */
export function validateSecret(spec: Obj, p: Problems): void {
  const type = spec.type;
  if (type !== undefined && (typeof type !== 'string' || !SECRET_TYPES.includes(type))) {
    p.warn('type', `Secret type ${JSON.stringify(type)} holds nothing tsmesh reads; it reads ${SECRET_TYPES.join(' and ')} Secrets for credentialName`);
    return;
  }
  // Kubernetes stores any bytes; like Istio's analyzer, say what is wrong and serve nothing from it.
  for (const problem of secretMaterial(spec).problems) p.warn(problem.path, `${problem.message}; gateways naming this Secret in credentialName will not get a certificate from it`);
}
