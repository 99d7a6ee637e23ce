/**
 * The two status mappings of Envoy's Grpc::Utility, the only copies in tsmesh:
 * - grpcToHttpStatus: how a gRPC outcome counts where an HTTP code is expected (outlier
 *   detection's 5xx and gateway-error counters);
 * - httpToGrpcStatus: the status a gRPC call has when the answer carried no grpc-status (local
 *   replies, access-log grpc_status_filter, Istio's grpc_response_status).
 */
const GRPC_TO_HTTP: readonly number[] = [
  200, // OK
  499, // CANCELLED
  500, // UNKNOWN
  400, // INVALID_ARGUMENT
  504, // DEADLINE_EXCEEDED
  404, // NOT_FOUND
  409, // ALREADY_EXISTS
  403, // PERMISSION_DENIED
  429, // RESOURCE_EXHAUSTED
  400, // FAILED_PRECONDITION
  409, // ABORTED
  400, // OUT_OF_RANGE
  501, // UNIMPLEMENTED
  500, // INTERNAL
  503, // UNAVAILABLE
  500, // DATA_LOSS
  401, // UNAUTHENTICATED
];

/** An unknown or missing status counts as 500, as Envoy's InvalidCode does. */
export function grpcToHttpStatus(grpcStatus: number | undefined): number {
  return grpcStatus !== undefined && Number.isInteger(grpcStatus) && grpcStatus >= 0 && grpcStatus < GRPC_TO_HTTP.length ? GRPC_TO_HTTP[grpcStatus]! : 500;
}

/** gRPC's HTTP→status mapping (doc/http-grpc-status-mapping.md), as Envoy's httpToGrpcStatus. */
export function httpToGrpcStatus(status: number): number {
  switch (status) {
    case 400:
      return 13; // INTERNAL
    case 401:
      return 16; // UNAUTHENTICATED
    case 403:
      return 7; // PERMISSION_DENIED
    case 404:
      return 12; // UNIMPLEMENTED
    case 429:
    case 502:
    case 503:
    case 504:
      return 14; // UNAVAILABLE
    default:
      return 2; // UNKNOWN
  }
}
