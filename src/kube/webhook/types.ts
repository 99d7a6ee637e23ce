/**
 * AdmissionReview v1 as Kubernetes sends it to admission webhooks
 * (k8s.io/api/admission/v1). The mutating /inject route and the validating
 * /validate route both take an AdmissionRequest and answer an AdmissionResponse.
 */

/** Group/version/kind of the object under review. */
export interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

/** Group/version/resource of the object under review. */
export interface GroupVersionResource {
  group: string;
  version: string;
  resource: string;
}

/** Who made the request (authentication.k8s.io/v1 UserInfo). */
export interface UserInfo {
  username?: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

export type AdmissionOperation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';

/** What the API server sends in AdmissionReview.request. */
export interface AdmissionRequest {
  /** Echoed in the response so the API server can match them. */
  uid: string;
  kind: GroupVersionKind;
  resource: GroupVersionResource;
  subResource?: string;
  requestKind?: GroupVersionKind;
  requestResource?: GroupVersionResource;
  requestSubResource?: string;
  /** Empty for a Pod created through a Deployment before the name is generated. */
  name?: string;
  namespace?: string;
  operation: AdmissionOperation;
  userInfo: UserInfo;
  /** The new object (absent on DELETE). */
  object?: unknown;
  /** The existing object (UPDATE and DELETE). */
  oldObject?: unknown;
  dryRun?: boolean;
  options?: unknown;
}

/** metav1.Status, trimmed to what a webhook sets when it refuses. */
export interface AdmissionStatus {
  code?: number;
  message?: string;
  reason?: string;
}

/** What a webhook answers in AdmissionReview.response. */
export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: AdmissionStatus;
  patchType?: 'JSONPatch';
  /** Base64 of an RFC 6902 JSON patch (mutating webhooks only). */
  patch?: string;
  auditAnnotations?: Record<string, string>;
  warnings?: string[];
}

export interface AdmissionReview {
  apiVersion: 'admission.k8s.io/v1';
  kind: 'AdmissionReview';
  request?: AdmissionRequest;
  response?: AdmissionResponse;
}

/**
 * One route of the webhook server. It may throw: the server answers
 * allowed: false with the error's message (status code 500) rather than
 * dropping the request.
 */
export type AdmissionHandler = (req: AdmissionRequest) => AdmissionResponse | Promise<AdmissionResponse>;
