/** RequestAuthentication → Envoy jwt_authn (see ./jwt_filter.ts), selected per workload (./select.ts). */
export { applicableRequestAuthentications } from './select.ts';
export { authnHttpFilter, jwtAuthentication, JWT_AUTHN_FILTER, JWT_PAYLOAD_KEY } from './jwt_filter.ts';
