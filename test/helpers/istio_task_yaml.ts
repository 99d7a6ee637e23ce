/**
 * The YAML of Istio's traffic-management tasks that Istio's docs give inline (not in samples),
 * written once as the tasks give it, for the demo's tests (test/integration/istio_*) and the
 * Kubernetes-mode tests (test/kube/traffic_tasks_*).
 */

// Mirroring (tasks/traffic-management/mirroring): two httpbin versions, all to v1, then mirrored to v2.
export const httpbinDeployment = (version: string) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: httpbin-${version}
spec:
  replicas: 1
  selector:
    matchLabels:
      app: httpbin
      version: ${version}
  template:
    metadata:
      labels:
        app: httpbin
        version: ${version}
    spec:
      containers:
      - image: docker.io/mccutchen/go-httpbin:v2.15.0
        imagePullPolicy: IfNotPresent
        name: httpbin
        command: ["go-httpbin"]
        args:
          - "-port"
          - "8080"
          - "-max-duration"
          - "600s" # override default 10s
        ports:
        - containerPort: 8080
`;

export const HTTPBIN_SERVICE = `apiVersion: v1
kind: Service
metadata:
  name: httpbin
  labels:
    app: httpbin
spec:
  ports:
  - name: http
    port: 8000
    targetPort: 8080
  selector:
    app: httpbin
`;

export const ROUTE_ALL_TO_V1 = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: httpbin
spec:
  hosts:
    - httpbin
  http:
  - route:
    - destination:
        host: httpbin
        subset: v1
      weight: 100
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: httpbin
spec:
  host: httpbin
  subsets:
  - name: v1
    labels:
      version: v1
  - name: v2
    labels:
      version: v2
`;

export const MIRROR_TO_V2 = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: httpbin
spec:
  hosts:
    - httpbin
  http:
  - route:
    - destination:
        host: httpbin
        subset: v1
      weight: 100
    mirror:
      host: httpbin
      subset: v2
    mirrorPercentage:
      value: 100.0
`;

// Request timeouts (tasks/traffic-management/request-timeouts).
export const REVIEWS_V2 = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts:
    - reviews
  http:
  - route:
    - destination:
        host: reviews
        subset: v2
`;

export const RATINGS_DELAY = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ratings
spec:
  hosts:
  - ratings
  http:
  - fault:
      delay:
        percent: 100
        fixedDelay: 2s
    route:
    - destination:
        host: ratings
        subset: v1
`;

export const REVIEWS_V2_TIMEOUT = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts:
  - reviews
  http:
  - route:
    - destination:
        host: reviews
        subset: v2
    timeout: 0.5s
`;

// Circuit breaking (tasks/traffic-management/circuit-breaking): the task's DestinationRule.
export const CIRCUIT_BREAKING_DR = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: httpbin
spec:
  host: httpbin
  trafficPolicy:
    connectionPool:
      tcp:
        maxConnections: 1
      http:
        http1MaxPendingRequests: 1
        maxRequestsPerConnection: 1
    outlierDetection:
      consecutive5xxErrors: 1
      interval: 1s
      baseEjectionTime: 3m
      maxEjectionPercent: 100
`;
