/**
 * The injection transform, as a user reads the injected pod: where the sidecar goes (native or
 * regular, first when the app waits for it), what istio-init is told from the traffic
 * annotations, how probes move to the agent, which pods are left alone, and refusals that name
 * the annotation to fix.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { injectPod, type InjectResult } from '../../src/kube/inject/inject.ts';
import type { Container, Pod } from '../../src/kube/inject/objects.ts';
import { defaultInjectionSettings, type InjectionSettings } from '../../src/kube/inject/settings.ts';
import { WAIT_FOR_PROXY_SCRIPT } from '../../src/kube/inject/sidecar.ts';
import { resolveInjectionSettings } from '../../src/kube/inject/values.ts';

function pod(over: { labels?: Record<string, string>; annotations?: Record<string, string>; containers?: Container[]; initContainers?: Container[]; hostNetwork?: boolean } = {}): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'reviews-v1-abc', namespace: 'default', labels: { app: 'reviews', version: 'v1', ...over.labels }, ...(over.annotations ? { annotations: over.annotations } : {}) },
    spec: {
      serviceAccountName: 'bookinfo-reviews',
      containers: over.containers ?? [{ name: 'reviews', image: 'reviews:1', ports: [{ name: 'http', containerPort: 9080 }] }],
      ...(over.initContainers ? { initContainers: over.initContainers } : {}),
      ...(over.hostNetwork ? { hostNetwork: true } : {}),
    },
  };
}

function settings(over: Partial<InjectionSettings> = {}): InjectionSettings {
  return { ...defaultInjectionSettings(), ...over };
}

function injected(r: InjectResult): Pod {
  assert.ok(r.ok, `injection failed: ${!r.ok ? r.error : ''}`);
  assert.ok(r.injected, `not injected: ${r.ok && !r.injected ? r.reason : ''}`);
  return r.pod;
}

const names = (cs: Container[] | undefined) => (cs ?? []).map((c) => c.name);
const byName = (cs: Container[] | undefined, n: string) => (cs ?? []).find((c) => c.name === n)!;
const env = (c: Container, n: string) => c.env?.find((e) => e.name === n)?.value;
const argAfter = (c: Container, flag: string) => c.args![c.args!.indexOf(flag) + 1];

test('native sidecar: istio-init, then istio-proxy with restartPolicy Always, then the app\'s own init containers', () => {
  const p = injected(injectPod({ pod: pod({ initContainers: [{ name: 'migrate', image: 'db:1' }] }), namespace: 'default', settings: settings() }));
  assert.deepEqual(names(p.spec.initContainers), ['istio-init', 'istio-proxy', 'migrate']);
  assert.deepEqual(names(p.spec.containers), ['reviews']);
  const proxy = byName(p.spec.initContainers, 'istio-proxy');
  assert.equal(proxy.restartPolicy, 'Always');
  assert.equal(proxy.args![0], 'proxy');
  assert.equal(argAfter(proxy, '--discovery-address'), 'istiod.istio-system.svc:15012');
  assert.equal(argAfter(proxy, '--pod-name'), '$(POD_NAME)');
  assert.deepEqual((proxy.securityContext as any).runAsUser, 1337);
  assert.deepEqual((proxy.readinessProbe as any).httpGet, { path: '/healthz/ready', port: 15021 });
  assert.deepEqual(proxy.ports, [{ name: 'http-envoy-prom', containerPort: 15090, protocol: 'TCP' }]);
  assert.deepEqual(names(p.spec.volumes as Container[]), ['istio-envoy', 'istio-data', 'istio-podinfo', 'istio-token', 'istiod-ca-cert']);
  const token = (p.spec.volumes as any[]).find((v) => v.name === 'istio-token').projected.sources[0].serviceAccountToken;
  assert.deepEqual(token, { audience: 'istio-ca', expirationSeconds: 43200, path: 'istio-token' });
  const status = JSON.parse(p.metadata.annotations!['sidecar.istio.io/status']!);
  assert.deepEqual(status.initContainers, ['istio-init', 'istio-proxy']);
  assert.equal(status.containers, null);
  assert.equal(p.metadata.labels!['security.istio.io/tlsMode'], 'istio');
  assert.equal(p.metadata.labels!['service.istio.io/canonical-name'], 'reviews');
  assert.equal(p.metadata.labels!['service.istio.io/canonical-revision'], 'v1');
  assert.equal(p.metadata.annotations!['kubectl.kubernetes.io/default-container'], 'reviews');
});

test('regular container (ENABLE_NATIVE_SIDECARS=false): proxy last, istio-init after the app\'s init containers; with holdApplicationUntilProxyStarts the proxy goes first and waits', () => {
  const plain = injected(injectPod({ pod: pod({ initContainers: [{ name: 'migrate' }] }), namespace: 'default', settings: settings({ nativeSidecars: false }) }));
  assert.deepEqual(names(plain.spec.initContainers), ['migrate', 'istio-init']);
  assert.deepEqual(names(plain.spec.containers), ['reviews', 'istio-proxy']);
  assert.equal(byName(plain.spec.containers, 'istio-proxy').restartPolicy, undefined);
  assert.equal(byName(plain.spec.containers, 'istio-proxy').lifecycle, undefined);

  const held = injected(injectPod({ pod: pod({ annotations: { 'proxy.istio.io/config': 'holdApplicationUntilProxyStarts: true' } }), namespace: 'default', settings: settings({ nativeSidecars: false }) }));
  assert.deepEqual(names(held.spec.containers), ['istio-proxy', 'reviews']);
  assert.deepEqual((byName(held.spec.containers, 'istio-proxy').lifecycle as any).postStart.exec.command.slice(0, 2), ['node', '-e']);
  // The mesh default does the same.
  const meshHeld = injected(injectPod({ pod: pod(), namespace: 'default', settings: settings({ nativeSidecars: false, holdApplicationUntilProxyStarts: true }) }));
  assert.deepEqual(names(meshHeld.spec.containers), ['istio-proxy', 'reviews']);
  // Native sidecars start before the app anyway: no hook, same place.
  const native = injected(injectPod({ pod: pod({ annotations: { 'proxy.istio.io/config': '{"holdApplicationUntilProxyStarts": true}' } }), namespace: 'default', settings: settings() }));
  assert.deepEqual(names(native.spec.initContainers), ['istio-init', 'istio-proxy']);
  assert.equal(byName(native.spec.initContainers, 'istio-proxy').lifecycle, undefined);
});

test('the postStart hook returns once the proxy answers ready on INSTANCE_IP:15021', async (t) => {
  let answers = 0;
  const server = createServer((req, res) => {
    answers++;
    res.writeHead(req.url === '/healthz/ready' && answers >= 3 ? 200 : 503).end();
  });
  // A loopback address of its own, so 15021 is free whatever else runs.
  const ip = '127.31.7.9';
  await new Promise<void>((r, j) => server.once('error', j).listen(15021, ip, () => r()));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  assert.equal((server.address() as AddressInfo).port, 15021);
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn(process.execPath, ['-e', WAIT_FOR_PROXY_SCRIPT], { env: { ...process.env, INSTANCE_IP: ip }, stdio: 'ignore' });
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('exit', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  assert.equal(code, 0);
  assert.ok(answers >= 3, `polled ${answers} times, expected to wait through two 503s`);
});

test('istio-init gets istio-iptables flags from the traffic annotations', () => {
  const defaults = injected(injectPod({ pod: pod(), namespace: 'default', settings: settings() }));
  assert.deepEqual(byName(defaults.spec.initContainers, 'istio-init').args, ['init', '-p', '15001', '-z', '15006', '-u', '1337', '-m', 'REDIRECT', '-i', '*', '-x', '', '-b', '*', '-d', '15090,15021,15020']);
  const p = injected(
    injectPod({
      pod: pod({
        annotations: {
          'traffic.sidecar.istio.io/includeOutboundIPRanges': '10.96.0.0/12',
          'traffic.sidecar.istio.io/excludeOutboundIPRanges': '10.96.0.1/32',
          'traffic.sidecar.istio.io/includeInboundPorts': '9080',
          'traffic.sidecar.istio.io/excludeInboundPorts': '8443',
          'traffic.sidecar.istio.io/excludeOutboundPorts': '5432',
          'traffic.sidecar.istio.io/kubevirtInterfaces': 'net1',
          'sidecar.istio.io/interceptionMode': 'TPROXY',
        },
      }),
      namespace: 'default',
      settings: settings(),
    }),
  );
  const init = byName(p.spec.initContainers, 'istio-init');
  assert.deepEqual(init.args, ['init', '-p', '15001', '-z', '15006', '-u', '1337', '-m', 'TPROXY', '-i', '10.96.0.0/12', '-x', '10.96.0.1/32', '-b', '9080', '-d', '15090,15021,15020,8443', '-o', '5432', '-k', 'net1']);
  assert.deepEqual((init.securityContext as any).capabilities.add, ['NET_ADMIN', 'NET_RAW']);
  assert.equal((init.securityContext as any).runAsUser, 0);
  // The proxy serves the mode istio-init captured with: TPROXY needs root and NET_ADMIN to bind transparently.
  const proxy = byName(p.spec.initContainers, 'istio-proxy');
  assert.equal(env(proxy, 'ISTIO_META_INTERCEPTION_MODE'), 'TPROXY');
  assert.deepEqual((proxy.securityContext as any).capabilities.add, ['NET_ADMIN']);
  assert.equal((proxy.securityContext as any).runAsUser, 0);
  assert.equal((proxy.securityContext as any).runAsNonRoot, false);
});

test('the interceptionMode annotation wins over ProxyConfig for istio-init and the proxy alike', () => {
  const p = injected(
    injectPod({ pod: pod({ annotations: { 'sidecar.istio.io/interceptionMode': 'REDIRECT', 'proxy.istio.io/config': 'interceptionMode: TPROXY' } }), namespace: 'default', settings: settings() }),
  );
  assert.equal(argAfter(byName(p.spec.initContainers, 'istio-init'), '-m'), 'REDIRECT');
  const proxy = byName(p.spec.initContainers, 'istio-proxy');
  assert.equal(env(proxy, 'ISTIO_META_INTERCEPTION_MODE'), 'REDIRECT');
  assert.equal((proxy.securityContext as any).runAsUser, 1337);
  assert.equal((proxy.securityContext as any).capabilities.add, undefined);
});

test('the interceptionMode annotation NONE injects a sidecar without istio-init (Istio\'s template), not a refusal', () => {
  const p = injected(injectPod({ pod: pod({ annotations: { 'sidecar.istio.io/interceptionMode': 'NONE' } }), namespace: 'default', settings: settings() }));
  assert.deepEqual(names(p.spec.initContainers), ['istio-proxy']);
  const proxy = byName(p.spec.initContainers, 'istio-proxy');
  assert.equal(env(proxy, 'ISTIO_META_INTERCEPTION_MODE'), 'NONE');
  assert.equal((proxy.securityContext as any).runAsUser, 1337);
  assert.deepEqual(JSON.parse(p.metadata!.annotations!['sidecar.istio.io/status']!).initContainers, ['istio-proxy']);
  // Regular-container sidecars likewise: no istio-init at all.
  const regular = injected(injectPod({ pod: pod({ annotations: { 'sidecar.istio.io/interceptionMode': 'NONE' } }), namespace: 'default', settings: settings({ nativeSidecars: false }) }));
  assert.equal(regular.spec.initContainers, undefined);
  assert.deepEqual(names(regular.spec.containers), ['reviews', 'istio-proxy']);
});

test('an unknown interceptionMode annotation is refused, naming the annotation', () => {
  const r = injectPod({ pod: pod({ annotations: { 'sidecar.istio.io/interceptionMode': 'tproxy-ish' } }), namespace: 'default', settings: settings() });
  assert.equal(r.ok, false);
  assert.match(!r.ok ? r.error : '', /annotation sidecar\.istio\.io\/interceptionMode: expected REDIRECT, TPROXY or NONE, got "tproxy-ish"/);
});

test('interception mode NONE (or Istio CNI) has no istio-init', () => {
  const none = injected(injectPod({ pod: pod({ annotations: { 'proxy.istio.io/config': 'interceptionMode: NONE' } }), namespace: 'default', settings: settings() }));
  assert.deepEqual(names(none.spec.initContainers), ['istio-proxy']);
  assert.equal(env(byName(none.spec.initContainers, 'istio-proxy'), 'ISTIO_META_INTERCEPTION_MODE'), 'NONE');
  const cni = injected(injectPod({ pod: pod(), namespace: 'default', settings: settings({ cni: true }) }));
  assert.deepEqual(names(cni.spec.initContainers), ['istio-proxy']);
});

test('bad annotations refuse the injection, naming the annotation', () => {
  const bad = (annotations: Record<string, string>) => {
    const r = injectPod({ pod: pod({ annotations }), namespace: 'default', settings: settings() });
    assert.ok(!r.ok, 'expected a refusal');
    return r.error;
  };
  assert.match(bad({ 'traffic.sidecar.istio.io/includeOutboundIPRanges': '10.0.0.0/33' }), /traffic\.sidecar\.istio\.io\/includeOutboundIPRanges takes IP addresses or CIDRs/);
  assert.match(bad({ 'traffic.sidecar.istio.io/excludeInboundPorts': 'http' }), /traffic\.sidecar\.istio\.io\/excludeInboundPorts must be a port number/);
  assert.match(bad({ 'sidecar.istio.io/proxyCPU': 'lots' }), /sidecar\.istio\.io\/proxyCPU: "lots" is not a Kubernetes quantity/);
  assert.match(bad({ 'proxy.istio.io/config': 'holdApplicationUntilProxyStarts: sometimes' }), /holdApplicationUntilProxyStarts: expected true or false/);
  assert.match(bad({ 'sidecar.istio.io/interceptionMode': 'MAGIC' }), /interceptionMode/);
});

test('resources: the proxy annotations replace the defaults; none set keeps values.global.proxy.resources', () => {
  const def = injected(injectPod({ pod: pod(), namespace: 'default', settings: settings() }));
  assert.deepEqual(byName(def.spec.initContainers, 'istio-proxy').resources, { limits: { cpu: '2000m', memory: '1024Mi' }, requests: { cpu: '100m', memory: '128Mi' } });
  const p = injected(injectPod({ pod: pod({ annotations: { 'sidecar.istio.io/proxyCPU': '50m', 'sidecar.istio.io/proxyMemoryLimit': '256Mi' } }), namespace: 'default', settings: settings() }));
  assert.deepEqual(byName(p.spec.initContainers, 'istio-proxy').resources, { limits: { memory: '256Mi' }, requests: { cpu: '50m' } });
});

test('probes move to the agent at 15020 /app-health/<container>/…; the originals go to ISTIO_KUBE_APP_PROBERS', () => {
  const app: Container = {
    name: 'web',
    ports: [{ name: 'http', containerPort: 8080 }],
    livenessProbe: { httpGet: { path: '/live', port: 'http', httpHeaders: [{ name: 'X-Probe', value: '1' }] }, timeoutSeconds: 2, periodSeconds: 7 },
    readinessProbe: { tcpSocket: { port: 8080 } },
    startupProbe: { grpc: { port: 9090, service: 'health' }, failureThreshold: 30 },
  };
  const sidecarTool: Container = { name: 'tool', livenessProbe: { exec: { command: ['true'] } } };
  const p = injected(injectPod({ pod: pod({ containers: [app, sidecarTool] }), namespace: 'default', settings: settings() }));
  const web = byName(p.spec.containers, 'web');
  assert.deepEqual(web.livenessProbe, { httpGet: { path: '/app-health/web/livez', port: 15020, scheme: 'HTTP', httpHeaders: [{ name: 'X-Probe', value: '1' }] }, timeoutSeconds: 2, periodSeconds: 7 });
  assert.deepEqual(web.readinessProbe, { httpGet: { path: '/app-health/web/readyz', port: 15020, scheme: 'HTTP' } });
  assert.deepEqual(web.startupProbe, { httpGet: { path: '/app-health/web/startupz', port: 15020, scheme: 'HTTP' }, failureThreshold: 30 });
  assert.deepEqual(byName(p.spec.containers, 'tool').livenessProbe, { exec: { command: ['true'] } });
  const probers = JSON.parse(env(byName(p.spec.initContainers, 'istio-proxy'), 'ISTIO_KUBE_APP_PROBERS')!);
  assert.deepEqual(probers, {
    '/app-health/web/livez': { httpGet: { path: '/live', httpHeaders: [{ name: 'X-Probe', value: '1' }], port: 8080, scheme: 'HTTP' }, timeoutSeconds: 2 },
    '/app-health/web/readyz': { tcpSocket: { port: 8080 }, timeoutSeconds: 1 },
    '/app-health/web/startupz': { grpc: { port: 9090, service: 'health' }, timeoutSeconds: 1 },
  });
  const off = injected(injectPod({ pod: pod({ containers: [structuredClone(app)], annotations: { 'sidecar.istio.io/rewriteAppHTTPProbers': 'false' } }), namespace: 'default', settings: settings() }));
  assert.deepEqual(byName(off.spec.containers, 'web').livenessProbe, app.livenessProbe);
  assert.equal(env(byName(off.spec.initContainers, 'istio-proxy'), 'ISTIO_KUBE_APP_PROBERS'), undefined);
});

test('proxy.istio.io/config reaches the proxy as PROXY_CONFIG over the mesh defaults; proxyMetadata becomes its env', () => {
  const s = settings({ defaultProxyConfig: { proxyMetadata: { A: '1' }, drainDuration: '10s' } });
  const p = injected(injectPod({ pod: pod({ annotations: { 'proxy.istio.io/config': 'concurrency: 2\nproxyMetadata:\n  ISTIO_META_DNS_CAPTURE: "true"\n' } }), namespace: 'default', settings: s }));
  const proxy = byName(p.spec.initContainers, 'istio-proxy');
  assert.deepEqual(JSON.parse(env(proxy, 'PROXY_CONFIG')!), { proxyMetadata: { A: '1', ISTIO_META_DNS_CAPTURE: 'true' }, drainDuration: '10s', concurrency: 2 });
  assert.equal(env(proxy, 'A'), '1');
  assert.equal(env(proxy, 'ISTIO_META_DNS_CAPTURE'), 'true');
  assert.equal(argAfter(proxy, '--concurrency'), '2');
  assert.equal(argAfter(proxy, '--drain-time-s'), '10');
  // DNS capture needs istio-init to redirect port 53 too.
  assert.ok(byName(p.spec.initContainers, 'istio-init').args!.includes('--redirect-dns'));
});

test('prometheus.io annotations point at the agent, the app\'s own go to ISTIO_PROMETHEUS_ANNOTATIONS', () => {
  const p = injected(injectPod({ pod: pod({ annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9090', 'prometheus.io/path': '/m' } }), namespace: 'default', settings: settings() }));
  const a = p.metadata.annotations!;
  assert.deepEqual([a['prometheus.io/scrape'], a['prometheus.io/port'], a['prometheus.io/path']], ['true', '15020', '/stats/prometheus']);
  assert.deepEqual(JSON.parse(env(byName(p.spec.initContainers, 'istio-proxy'), 'ISTIO_PROMETHEUS_ANNOTATIONS')!), { scrape: 'true', port: '9090', path: '/m' });
});

test('pods left alone: inject=false (label or annotation), hostNetwork, kube-system, already injected', () => {
  const skip = (p: Pod, ns = 'default') => {
    const r = injectPod({ pod: p, namespace: ns, settings: settings() });
    assert.ok(r.ok && !r.injected, 'expected no injection');
    assert.deepEqual(r.pod, p);
    return r.reason;
  };
  assert.match(skip(pod({ labels: { 'sidecar.istio.io/inject': 'false' } })), /pod label sidecar\.istio\.io\/inject=false/);
  assert.match(skip(pod({ annotations: { 'sidecar.istio.io/inject': 'false' } })), /pod annotation/);
  assert.match(skip(pod({ hostNetwork: true })), /hostNetwork/);
  assert.match(skip(pod(), 'kube-system'), /kube-system/);
  const once = injected(injectPod({ pod: pod(), namespace: 'default', settings: settings() }));
  assert.match(skip(once), /already injected/);
  // A namespace labelled istio-injection=disabled wins over the pod, as the demo decides.
  const r = injectPod({ pod: pod({ labels: { 'sidecar.istio.io/inject': 'true' } }), namespace: 'default', settings: settings(), namespaceLabels: { 'istio-injection': 'disabled' } });
  assert.ok(r.ok && !r.injected);
});

test('the workload is the Deployment behind the pod\'s ReplicaSet', () => {
  const p = pod({ labels: { 'pod-template-hash': '5d7c9f' } });
  p.metadata.name = undefined;
  p.metadata.generateName = 'reviews-v1-5d7c9f-';
  p.metadata.ownerReferences = [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'reviews-v1-5d7c9f', controller: true }];
  const proxy = byName(injected(injectPod({ pod: p, namespace: 'bookinfo', settings: settings() })).spec.initContainers, 'istio-proxy');
  assert.equal(env(proxy, 'ISTIO_META_WORKLOAD_NAME'), 'reviews-v1');
  assert.equal(env(proxy, 'ISTIO_META_OWNER'), 'kubernetes://apis/apps/v1/namespaces/bookinfo/deployments/reviews-v1');
  // The rollout's hash is no workload label.
  assert.doesNotMatch(argAfter(proxy, '--labels'), /pod-template-hash/);
});

test('values neverInjectSelector / alwaysInjectSelector decide for pods that say nothing themselves', () => {
  const r = resolveInjectionSettings({
    values: JSON.stringify({ sidecarInjectorWebhook: { neverInjectSelector: [{ matchExpressions: [{ key: 'openshift.io/build.name', operator: 'Exists' }] }, { matchLabels: { app: 'batch' } }], alwaysInjectSelector: [{ matchLabels: { mesh: 'always' } }] } }),
  });
  assert.ok(r.ok);
  assert.deepEqual(r.warnings, []);
  const s = r.settings;
  const never = injectPod({ pod: pod({ labels: { app: 'batch' } }), namespace: 'default', settings: s });
  assert.ok(never.ok && !never.injected);
  assert.match(never.ok && !never.injected ? never.reason : '', /neverInjectSelector\[1\]/);
  const build = injectPod({ pod: pod({ labels: { 'openshift.io/build.name': 'b-1' } }), namespace: 'default', settings: s });
  assert.ok(build.ok && !build.injected);
  // The pod's own say wins over the selectors (Istio's order).
  injected(injectPod({ pod: pod({ labels: { app: 'batch', 'sidecar.istio.io/inject': 'true' } }), namespace: 'default', settings: s }));
  const always = injectPod({ pod: pod({ labels: { mesh: 'always' } }), namespace: 'default', settings: s, namespaceLabels: {} });
  assert.ok(always.ok && always.injected, 'alwaysInjectSelector injects even where the namespace is not enabled');
  injected(injectPod({ pod: pod(), namespace: 'default', settings: s }));
});

test('injection values the injector does not act on are warned about by path; bad selectors and bad ConfigMap values are errors', () => {
  const r = resolveInjectionSettings({
    values: JSON.stringify({ global: { proxy: { image: 'reg/tsmesh:1', logLevel: 'debug', privileged: true, lifecycle: {} }, imagePullSecrets: ['s'] }, sidecarInjectorWebhook: { enableNamespacesByDefault: true, injectedAnnotations: { a: 'b' }, rewriteAppHTTPProbe: false } }),
  });
  assert.ok(r.ok);
  assert.equal(r.settings.image, 'reg/tsmesh:1');
  assert.equal(r.warnings.length, 1);
  for (const path of ['global.proxy.logLevel', 'global.proxy.privileged', 'global.imagePullSecrets', 'sidecarInjectorWebhook.enableNamespacesByDefault', 'sidecarInjectorWebhook.injectedAnnotations.a']) assert.ok(r.warnings[0]!.includes(path), `${path} in ${r.warnings[0]}`);
  assert.ok(!r.warnings[0]!.includes('rewriteAppHTTPProbe') && !r.warnings[0]!.includes('proxy.image'), 'what is acted on is not warned about');

  const bad = resolveInjectionSettings({ values: JSON.stringify({ sidecarInjectorWebhook: { neverInjectSelector: [{ matchLabel: { app: 'x' } }] } }) });
  assert.deepEqual(bad, { ok: false, error: 'sidecarInjectorWebhook.neverInjectSelector[0]: unknown field matchLabel (a label selector has matchLabels and matchExpressions)' });
  const cm = resolveInjectionSettings({ values: 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio-sidecar-injector}\ndata:\n  values: "{oops"\n' });
  assert.equal(cm.ok, false);
  assert.match(!cm.ok ? cm.error : '', /^ConfigMap data.values: not JSON or YAML/);
});

test('pod annotations of the injector\'s families that it does not act on come back as warnings', () => {
  const r = injectPod({ pod: pod({ annotations: { 'sidecar.istio.io/logLevel': 'debug', 'inject.istio.io/templates': 'grpc-agent', 'proxy.istio.io/overrides': '{}', 'proxy.istio.io/config': '{}', 'sidecar.istio.io/proxyMemory': '64Mi' } }), namespace: 'default', settings: settings() });
  assert.ok(r.ok && r.injected);
  assert.deepEqual(r.ok && r.injected ? r.warnings.map((w) => w.split(' ')[1]) : [], ['inject.istio.io/templates', 'proxy.istio.io/overrides', 'sidecar.istio.io/logLevel']);
});
