/**
 * A VirtualService Istio's validation refuses (an invalid route timeout), for the tests that check
 * the validating webhook refuses it with the lines `tsmesh validate` prints for the same file.
 */
export const INVALID_VIRTUAL_SERVICE = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews-bad
spec:
  hosts:
  - reviews
  http:
  - route:
    - destination:
        host: reviews
    timeout: 1x
`;

/** `tsmesh validate -q` output lines without their "file:line[:col]: " position. */
export const validateLinesOf = (stdout: string): string[] => stdout.trim().split('\n').map((l) => l.replace(/^[^:]+:\d+(:\d+)?: /, ''));
