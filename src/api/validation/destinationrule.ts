/**
 * DestinationRule rules: host, subsets, and the traffic policy (load balancer, connection pool,
 * outlier detection, TLS) at rule, port and subset level.
 */
import {
  Problems, arr, checkDuration, checkExportTo, checkHost, checkLabels, checkNonNegative, checkPort, checkRange,
  checkSelector, child, isDns1123Label, isSet, num, obj, str, type Obj,
} from './common.ts';

export function validateDestinationRule(spec: Obj, p: Problems): void {
  const host = str(spec.host);
  if (host === '') p.err('spec.host', 'host is required');
  else checkHost(p, 'spec.host', host);
  checkExportTo(p, 'spec.exportTo', spec.exportTo);
  checkSelector(p, 'spec.workloadSelector', spec.workloadSelector, 'matchLabels');
  validateTrafficPolicy(obj(spec.trafficPolicy), 'spec.trafficPolicy', p, true);

  const names = new Map<string, number>();
  arr(spec.subsets).forEach((s, i) => {
    const sp = child('spec.subsets', i);
    const so = obj(s);
    if (!so) return;
    const name = str(so.name);
    if (name === undefined || name === '') p.err(child(sp, 'name'), 'subset name is required');
    else {
      if (!isDns1123Label(name)) p.err(child(sp, 'name'), `subset name "${name}" is invalid (lowercase letters, digits and "-", at most 63)`);
      const prev = names.get(name);
      if (prev !== undefined) p.err(child(sp, 'name'), `duplicate subset name "${name}" (also spec.subsets[${prev}])`);
      else names.set(name, i);
    }
    if (!isSet(so.labels) || Object.keys(obj(so.labels) ?? {}).length === 0) {
      p.warn(child(sp, 'labels'), 'subset has no labels, so it selects every endpoint of the host');
    }
    checkLabels(p, child(sp, 'labels'), so.labels);
    // Subsets carry their own traffic policy, but port-level settings inside it are allowed too.
    validateTrafficPolicy(obj(so.trafficPolicy), child(sp, 'trafficPolicy'), p, true);
  });
}

function validateTrafficPolicy(tp: Obj | undefined, path: string, p: Problems, allowPortLevel: boolean): void {
  if (!tp) return;
  validateLoadBalancer(obj(tp.loadBalancer), child(path, 'loadBalancer'), p);
  validateConnectionPool(obj(tp.connectionPool), child(path, 'connectionPool'), p);
  validateOutlierDetection(obj(tp.outlierDetection), child(path, 'outlierDetection'), p);
  validateClientTls(obj(tp.tls), child(path, 'tls'), p);
  const tunnel = obj(tp.tunnel);
  if (tunnel) {
    const tpath = child(path, 'tunnel');
    if (!isSet(tunnel.targetHost)) p.err(child(tpath, 'targetHost'), 'targetHost is required');
    if (tunnel.targetPort === undefined) p.err(child(tpath, 'targetPort'), 'targetPort is required');
    checkPort(p, child(tpath, 'targetPort'), tunnel.targetPort);
    const proto = str(tunnel.protocol);
    if (proto && proto !== 'CONNECT' && proto !== 'POST') p.err(child(tpath, 'protocol'), `tunnel protocol must be CONNECT or POST, got "${proto}"`);
  }
  const pls = arr(tp.portLevelSettings);
  if (!allowPortLevel && pls.length > 0) p.err(child(path, 'portLevelSettings'), 'portLevelSettings are not allowed here');
  const seen = new Map<number, number>();
  pls.forEach((s, i) => {
    const sp = child(child(path, 'portLevelSettings'), i);
    const so = obj(s);
    if (!so) return;
    const port = obj(so.port);
    const n = port ? checkPort(p, `${sp}.port.number`, port.number) : undefined;
    if (!port || port.number === undefined) p.err(child(sp, 'port'), 'port number is required in portLevelSettings');
    if (n !== undefined) {
      const prev = seen.get(n);
      if (prev !== undefined) p.err(`${sp}.port.number`, `duplicate port ${n} (also portLevelSettings[${prev}])`);
      else seen.set(n, i);
    }
    validateLoadBalancer(obj(so.loadBalancer), child(sp, 'loadBalancer'), p);
    validateConnectionPool(obj(so.connectionPool), child(sp, 'connectionPool'), p);
    validateOutlierDetection(obj(so.outlierDetection), child(sp, 'outlierDetection'), p);
    validateClientTls(obj(so.tls), child(sp, 'tls'), p);
  });
}

function validateLoadBalancer(lb: Obj | undefined, path: string, p: Problems): void {
  if (!lb) return;
  if (isSet(lb.simple) && isSet(lb.consistentHash)) p.err(path, 'simple and consistentHash are mutually exclusive: set only one load balancer');
  const ch = obj(lb.consistentHash);
  if (ch) {
    const cp = child(path, 'consistentHash');
    const keys = ['httpHeaderName', 'httpCookie', 'useSourceIp', 'httpQueryParameterName'].filter((k) => isSet(ch[k]) && ch[k] !== false);
    if (keys.length > 1) p.err(cp, `${keys.join(' and ')} are mutually exclusive: hash on one key`);
    if (keys.length === 0) p.err(cp, 'consistentHash needs a hash key: httpHeaderName, httpCookie, useSourceIp or httpQueryParameterName');
    const cookie = obj(ch.httpCookie);
    if (cookie) {
      if (!isSet(cookie.name)) p.err(`${cp}.httpCookie.name`, 'cookie name is required');
      if (cookie.ttl !== undefined) checkDuration(p, `${cp}.httpCookie.ttl`, cookie.ttl, { min: 0 });
    }
    if (isSet(ch.ringHash) && isSet(ch.maglev)) p.err(cp, 'ringHash and maglev are mutually exclusive');
    checkNonNegative(p, child(cp, 'minimumRingSize'), ch.minimumRingSize);
  }
  const loc = obj(lb.localityLbSetting);
  if (loc) validateLocalityLbSetting(loc, child(path, 'localityLbSetting'), p);
  checkDuration(p, child(path, 'warmupDurationSecs'), lb.warmupDurationSecs);
  const warm = obj(lb.warmup);
  if (warm) {
    checkDuration(p, `${path}.warmup.duration`, warm.duration);
    checkRange(p, `${path}.warmup.minimumPercent`, obj(warm.minimumPercent)?.value ?? warm.minimumPercent, 0, 100);
  }
}

/** Istio's LocalityLoadBalancerSetting (DestinationRule loadBalancer and meshConfig alike). */
export function validateLocalityLbSetting(loc: Obj, lp: string, p: Problems): void {
  if (isSet(loc.distribute) && isSet(loc.failover)) p.err(lp, 'can not simultaneously set failover and distribute');
  arr(loc.distribute).forEach((d, i) => {
    const dd = obj(d);
    const to = obj(dd?.to);
    if (!to) return;
    let total = 0;
    for (const w of Object.values(to)) total += num(w) ?? 0;
    if (total !== 100) p.err(child(child(child(lp, 'distribute'), i), 'to'), `total weight across localities must be 100, got ${total}`);
  });
  arr(loc.failover).forEach((f, i) => {
    const fo = obj(f);
    if (fo && fo.from !== undefined && fo.from === fo.to) p.err(child(child(lp, 'failover'), i), 'failover from and to must differ');
  });
}

/** Istio's ConnectionPoolSettings, shared by DestinationRule and Sidecar. */
export function validateConnectionPool(cp: Obj | undefined, path: string, p: Problems): void {
  if (!cp) return;
  const tcp = obj(cp.tcp);
  if (tcp) {
    const tp = child(path, 'tcp');
    checkNonNegative(p, child(tp, 'maxConnections'), tcp.maxConnections);
    checkDuration(p, child(tp, 'connectTimeout'), tcp.connectTimeout);
    checkDuration(p, child(tp, 'maxConnectionDuration'), tcp.maxConnectionDuration);
    checkDuration(p, child(tp, 'idleTimeout'), tcp.idleTimeout);
    const ka = obj(tcp.tcpKeepalive);
    if (ka) {
      checkDuration(p, `${tp}.tcpKeepalive.time`, ka.time);
      checkDuration(p, `${tp}.tcpKeepalive.interval`, ka.interval);
    }
  }
  const http = obj(cp.http);
  if (http) {
    const hp = child(path, 'http');
    for (const f of ['http1MaxPendingRequests', 'http2MaxRequests', 'maxRequestsPerConnection', 'maxRetries', 'maxConcurrentStreams']) {
      checkNonNegative(p, child(hp, f), http[f]);
    }
    checkDuration(p, child(hp, 'idleTimeout'), http.idleTimeout);
    const ka = obj(http.http2KeepAlive);
    if (ka) {
      checkDuration(p, `${hp}.http2KeepAlive.interval`, ka.interval);
      checkDuration(p, `${hp}.http2KeepAlive.timeout`, ka.timeout);
    }
  }
}

function validateOutlierDetection(od: Obj | undefined, path: string, p: Problems): void {
  if (!od) return;
  for (const f of ['consecutiveErrors', 'consecutive5xxErrors', 'consecutiveGatewayErrors', 'consecutiveLocalOriginFailures']) {
    checkNonNegative(p, child(path, f), od[f]);
  }
  checkDuration(p, child(path, 'interval'), od.interval);
  checkDuration(p, child(path, 'baseEjectionTime'), od.baseEjectionTime);
  checkRange(p, child(path, 'maxEjectionPercent'), od.maxEjectionPercent, 0, 100);
  checkRange(p, child(path, 'minHealthPercent'), od.minHealthPercent, 0, 100);
}

/** ClientTLSSettings: what each mode needs and forbids. */
function validateClientTls(tls: Obj | undefined, path: string, p: Problems): void {
  if (!tls) return;
  const mode = str(tls.mode) ?? 'DISABLE';
  const hasFiles = isSet(tls.clientCertificate) || isSet(tls.privateKey) || isSet(tls.caCertificates);
  if (mode === 'ISTIO_MUTUAL' && (hasFiles || isSet(tls.credentialName))) {
    p.err(path, 'ISTIO_MUTUAL uses Istio-issued certificates: clientCertificate, privateKey, caCertificates and credentialName must not be set');
  }
  if (mode === 'MUTUAL' && !isSet(tls.credentialName)) {
    if (!isSet(tls.clientCertificate)) p.err(child(path, 'clientCertificate'), 'client certificate required for mutual tls');
    if (!isSet(tls.privateKey)) p.err(child(path, 'privateKey'), 'private key required for mutual tls');
  }
  if (mode === 'DISABLE' && (hasFiles || isSet(tls.credentialName) || isSet(tls.sni))) {
    p.warn(path, 'TLS settings have no effect when mode is DISABLE');
  }
  const sni = str(tls.sni);
  if (sni) checkHost(p, child(path, 'sni'), sni, 'sni');
}
