/**
 * Gateway rules: servers, ports, `namespace/host` hosts, and what each TLS mode requires.
 */
import { Problems, arr, checkLabels, checkNamespacedHost, checkPort, checkProtocol, child, isSet, obj, str, type Obj } from './common.ts';

const GATEWAY_PROTOCOLS = ['HTTP', 'HTTPS', 'GRPC', 'GRPC-WEB', 'HTTP2', 'MONGO', 'REDIS', 'MYSQL', 'TCP', 'TLS'];
const TLS_PROTOCOLS = new Set(['HTTPS', 'TLS']);

export function validateGateway(spec: Obj, p: Problems): void {
  checkLabels(p, 'spec.selector', spec.selector);
  const servers = arr(spec.servers);
  if (servers.length === 0) p.err('spec.servers', 'gateway must have at least one server');
  const portNames = new Map<string, { index: number; number: unknown }>();
  servers.forEach((s, i) => {
    const sp = child('spec.servers', i);
    const so = obj(s);
    if (!so) return;
    const port = obj(so.port);
    let protocol: string | undefined;
    if (!port) p.err(child(sp, 'port'), 'port is required');
    else {
      if (port.number === undefined) p.err(`${sp}.port.number`, 'port number is required');
      checkPort(p, `${sp}.port.number`, port.number);
      checkPort(p, `${sp}.port.targetPort`, port.targetPort, { allowZero: true });
      protocol = str(port.protocol)?.toUpperCase();
      if (port.protocol === undefined || port.protocol === '') p.err(`${sp}.port.protocol`, 'port protocol is required');
      else checkProtocol(p, `${sp}.port.protocol`, port.protocol, GATEWAY_PROTOCOLS);
      const name = str(port.name);
      if (name === undefined || name === '') p.err(`${sp}.port.name`, 'port name must be set');
      else {
        // Servers sharing a port may share its name; one name on two port numbers is a mistake.
        const prev = portNames.get(name);
        if (prev !== undefined && prev.number !== port.number) p.warn(`${sp}.port.name`, `port names in servers should be unique: duplicate name ${name} (also spec.servers[${prev.index}] on port ${prev.number})`);
        else if (prev === undefined) portNames.set(name, { index: i, number: port.number });
      }
    }
    const hosts = arr(so.hosts);
    if (hosts.length === 0) p.err(child(sp, 'hosts'), 'server config must contain at least one host');
    hosts.forEach((h, j) => checkNamespacedHost(p, child(child(sp, 'hosts'), j), h, { requireNamespace: false, allowNone: false }));
    if (typeof so.bind === 'string' && so.bind !== '' && !/^(unix:\/\/|[0-9a-fA-F:.]+$)/.test(so.bind)) {
      p.err(child(sp, 'bind'), `bind "${so.bind}" must be an IP address or a unix:// path`);
    }
    validateServerTls(obj(so.tls), child(sp, 'tls'), p, protocol);
  });
}

function validateServerTls(tls: Obj | undefined, path: string, p: Problems, protocol: string | undefined): void {
  const isTls = protocol !== undefined && TLS_PROTOCOLS.has(protocol);
  if (!tls) {
    if (isTls) p.err(path, `server must have TLS settings for ${protocol} protocol`);
    return;
  }
  if (!isTls) {
    // Plaintext servers may only use tls.httpsRedirect.
    const others = Object.keys(tls).filter((k) => k !== 'httpsRedirect' && isSet(tls[k]));
    if (others.length > 0 && protocol !== undefined) p.err(path, `server cannot have TLS settings (${others.join(', ')}) for plain text ${protocol} ports; only httpsRedirect`);
    return;
  }
  const mode = str(tls.mode) ?? 'SIMPLE';
  const creds = ['credentialName', 'credentialNames', 'tlsCertificates'].filter((k) => isSet(tls[k]));
  if (creds.length > 1) p.err(path, `only one of ${creds.join(' or ')} can be set`);
  const hasCred = creds.length > 0;
  const hasFiles = isSet(tls.serverCertificate) || isSet(tls.privateKey);
  if (mode === 'SIMPLE' || mode === 'MUTUAL' || mode === 'OPTIONAL_MUTUAL') {
    if (!hasCred) {
      if (!isSet(tls.serverCertificate)) p.err(child(path, 'serverCertificate'), `${mode} TLS requires a server certificate (serverCertificate) or credentialName`);
      if (!isSet(tls.privateKey)) p.err(child(path, 'privateKey'), `${mode} TLS requires a private key (privateKey) or credentialName`);
      if (mode !== 'SIMPLE' && !isSet(tls.caCertificates)) p.err(child(path, 'caCertificates'), `${mode} TLS requires caCertificates or credentialName`);
    }
  } else if (mode === 'PASSTHROUGH' || mode === 'AUTO_PASSTHROUGH') {
    if (hasCred || hasFiles) p.warn(path, `certificates are ignored in ${mode} mode: the gateway does not terminate TLS`);
    if (protocol === 'HTTPS') p.err(child(path, 'mode'), `${mode} requires protocol TLS, not HTTPS (the gateway cannot read HTTP inside TLS it does not terminate)`);
  } else if (mode === 'ISTIO_MUTUAL') {
    if (hasCred || hasFiles) p.err(path, 'ISTIO_MUTUAL uses Istio-issued certificates: do not set certificates or credentialName');
  }
  const names = arr(tls.subjectAltNames);
  names.forEach((n, i) => {
    if (n === '') p.err(child(child(path, 'subjectAltNames'), i), 'subjectAltNames entries must not be empty');
  });
}
