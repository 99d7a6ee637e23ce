/**
 * Every field the route builder emits must exist in Envoy's protos: encode the route
 * configurations through the xDS codec (which rejects unknown fields and bad enum values).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { decodeResource, encodeResource } from '../../../src/xds/codec.ts';
import { TYPE } from '../../../src/xds/types.ts';
import { buildInboundRouteConfiguration, buildRouteConfiguration } from '../../../src/pilot/route/index.ts';
import { bookinfoServices, ISTIO_BOOKINFO, istioFile, kubeService, mesh, push, sidecar, yamlConfigs } from './fixtures.ts';

const everything = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http:
  - name: all
    match:
    - uri: {regex: '/r/[0-9]+'}
      ignoreUriCase: true
      headers: {end-user: {exact: jason}, x-p: {}, '@request.auth.claims.sub': {prefix: u}}
      withoutHeaders: {x-no: {prefix: a}}
      queryParams: {q: {exact: ''}, r: {regex: 'a.*'}}
      method: {exact: GET}
      authority: {exact: reviews}
      scheme: {exact: http}
    timeout: 3s
    retries: {attempts: 3, perTryTimeout: 1s, retryOn: '5xx,503', retryRemoteLocalities: true}
    fault:
      delay: {fixedDelay: 1s, percentage: {value: 5}}
      abort: {grpcStatus: UNAVAILABLE, percentage: {value: 1}}
    mirror: {host: ratings}
    mirrorPercentage: {value: 10}
    mirrors: [{destination: {host: details}, percentage: {value: 2}}]
    corsPolicy:
      allowOrigins: [{exact: 'https://a'}, {regex: '.*b'}]
      allowMethods: [GET]
      allowHeaders: [x-a]
      exposeHeaders: [x-b]
      maxAge: 1h
      allowCredentials: false
    headers:
      request: {set: {x-a: '1', host: h.example}, add: {x-b: '2'}, remove: [x-c]}
      response: {set: {x-d: '3'}, add: {x-e: '4'}, remove: [x-f]}
    rewrite: {uriRegexRewrite: {match: '^/r/(.*)', rewrite: '/\\1'}, authority: new.example}
    route:
    - destination: {host: reviews, subset: v1}
      weight: 60
      headers: {request: {set: {x-v: v1}, add: {host: x}}, response: {remove: [x-g]}}
    - destination: {host: reviews, subset: v2, port: {number: 9080}}
      weight: 40
  - match: [{uri: {exact: /r}}]
    redirect: {uri: /x, authority: y, port: 8080, scheme: https, redirectCode: 308}
  - match: [{uri: {exact: /d}}]
    directResponse: {status: 200, body: {bytes: aGk=}}
  - match: [{uri: {exact: /s}}]
    directResponse: {status: 404, body: {string: nope}}
  - route: [{destination: {host: reviews, subset: v3}}]
    rewrite: {uri: /v3}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings, namespace: default}
spec:
  host: ratings
  trafficPolicy:
    loadBalancer:
      consistentHash: {httpCookie: {name: s, ttl: 10s, path: /}}
`;

function roundTrip(rc: Record<string, any>): void {
  const bytes = encodeResource(TYPE.ROUTE, rc);
  assert.ok(bytes.length > 0);
  const back = decodeResource(TYPE.ROUTE, bytes);
  assert.equal(back.name, rc.name);
  assert.equal(back.virtual_hosts.length, rc.virtual_hosts.length);
}

test('a VirtualService using every feature encodes as an Envoy RouteConfiguration', () => {
  const p = push(yamlConfigs(everything));
  const rc = buildRouteConfiguration(p, sidecar(), '9080')!;
  roundTrip(rc);
  const back = decodeResource(TYPE.ROUTE, encodeResource(TYPE.ROUTE, rc));
  const reviews = back.virtual_hosts.find((v: any) => v.name === 'reviews.default.svc.cluster.local:9080');
  assert.equal(reviews.routes.length, 5);
  assert.equal(reviews.routes[0].route.weighted_clusters.clusters.length, 2);
});

test('block_all, inbound, gRPC and every Bookinfo sample encode', () => {
  roundTrip(buildRouteConfiguration(push([], bookinfoServices(), mesh('REGISTRY_ONLY')), sidecar(), '9080')!);
  roundTrip(buildInboundRouteConfiguration(sidecar(), 9080, 'inbound|9080||'));
  const services = [...bookinfoServices(), kubeService('echo', 'default', [[7070, 'grpc', 'GRPC']], '10.0.0.70')];
  roundTrip(buildRouteConfiguration(push([], services), sidecar('default', {}, { generator: 'grpc' }), 'echo:7070')!);
  const dr = istioFile('destination-rule-all.yaml');
  for (const f of readdirSync(ISTIO_BOOKINFO).filter((n) => n.startsWith('virtual-service-') || n.startsWith('fault-'))) {
    roundTrip(buildRouteConfiguration(push([...dr, ...istioFile(f).filter((c) => c.kind === 'VirtualService')]), sidecar(), '9080')!);
  }
  const gw = sidecar('istio-system', { istio: 'ingressgateway' }, { type: 'router' });
  roundTrip(buildRouteConfiguration(push([...dr, ...istioFile('bookinfo-gateway.yaml')]), gw, 'http.8080')!);
});
