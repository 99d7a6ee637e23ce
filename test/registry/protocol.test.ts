import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isHTTP, isTCP, kubePortProtocol, needsSniffing, parseProtocol } from '../../src/registry/protocol.ts';
import type { Protocol } from '../../src/registry/model.ts';

test('Kubernetes port protocol follows Istio: UDP field, appProtocol, name prefix, well-known ports', () => {
  const table: Array<[Parameters<typeof kubePortProtocol>[0], Protocol]> = [
    [{ port: 9080, name: 'http' }, 'HTTP'],
    [{ port: 9080, name: 'HTTP' }, 'HTTP'],
    [{ port: 9080, name: 'http-web' }, 'HTTP'],
    [{ port: 80, name: 'http2' }, 'HTTP2'],
    [{ port: 443, name: 'https' }, 'HTTPS'],
    [{ port: 443, name: 'https-admin' }, 'HTTPS'],
    [{ port: 7070, name: 'grpc' }, 'GRPC'],
    [{ port: 7070, name: 'grpc-echo' }, 'GRPC'],
    [{ port: 7071, name: 'grpc-web' }, 'GRPC-WEB'],
    [{ port: 7071, name: 'grpc-web-ui' }, 'GRPC-WEB'],
    [{ port: 9000, name: 'tcp' }, 'TCP'],
    [{ port: 9000, name: 'tcp-db' }, 'TCP'],
    [{ port: 9443, name: 'tls' }, 'TLS'],
    [{ port: 27018, name: 'mongo' }, 'MONGO'],
    [{ port: 6379, name: 'redis' }, 'REDIS'],
    [{ port: 3307, name: 'mysql-primary' }, 'MYSQL'],
    [{ port: 5353, name: 'udp-dns' }, 'UDP'],
    [{ port: 5353, name: 'dns', protocol: 'UDP' }, 'UDP'],
    // UDP wins even over an HTTP name.
    [{ port: 8080, name: 'http', protocol: 'UDP' }, 'UDP'],
    // No recognised prefix: unknown, sniffed.
    [{ port: 8080, name: 'web' }, 'UNSUPPORTED'],
    [{ port: 8080, name: 'httpx' }, 'UNSUPPORTED'],
    [{ port: 8080 }, 'UNSUPPORTED'],
    [{ port: 8080, name: '' }, 'UNSUPPORTED'],
    // Server-first well-known ports are plain TCP when the name says nothing.
    [{ port: 3306, name: 'db' }, 'TCP'],
    [{ port: 27017 }, 'TCP'],
    [{ port: 25, name: 'smtp' }, 'TCP'],
    [{ port: 53 }, 'TCP'],
    // appProtocol replaces the name.
    [{ port: 8080, name: 'tcp', appProtocol: 'http' }, 'HTTP'],
    [{ port: 8080, name: 'web', appProtocol: 'grpc' }, 'GRPC'],
    [{ port: 8080, name: 'http', appProtocol: 'kubernetes.io/h2c' }, 'HTTP2'],
    [{ port: 8080, appProtocol: 'kubernetes.io/ws' }, 'HTTP'],
    [{ port: 8443, appProtocol: 'kubernetes.io/wss' }, 'HTTPS'],
    // An unrecognised appProtocol does not fall back to the name (Istio).
    [{ port: 8080, name: 'http', appProtocol: 'example.com/custom' }, 'UNSUPPORTED'],
  ];
  for (const [port, want] of table) assert.equal(kubePortProtocol(port), want, JSON.stringify(port));
});

test('parseProtocol accepts exact names case-insensitively and nothing else', () => {
  assert.equal(parseProtocol('HTTP'), 'HTTP');
  assert.equal(parseProtocol('grpc-web'), 'GRPC-WEB');
  assert.equal(parseProtocol('Https'), 'HTTPS');
  assert.equal(parseProtocol('http-foo'), 'UNSUPPORTED');
  assert.equal(parseProtocol(''), 'UNSUPPORTED');
  assert.equal(parseProtocol(undefined), 'UNSUPPORTED');
});

test('protocol families', () => {
  assert.deepEqual(
    (['HTTP', 'HTTP2', 'GRPC', 'GRPC-WEB', 'HTTPS', 'TCP', 'UNSUPPORTED'] as Protocol[]).map((p) => [isHTTP(p), isTCP(p), needsSniffing(p)]),
    [
      [true, false, false],
      [true, false, false],
      [true, false, false],
      [true, false, false],
      [false, true, false],
      [false, true, false],
      [false, false, true],
    ],
  );
});
