/** The ADS client: watches, plain updates, ACK/NACK, reconnect. See ./types.ts for the contract. */
export { AdsClient } from './ads_client.ts';
export { fetchResources, type FetchOptions } from './fetch.ts';
export { Backoff, REAL_TIMERS, type BackoffOptions, type Timers } from './backoff.ts';
export { FULL_STATE_TYPES, resourceName } from './state.ts';
export { ISTIOD_SERVER_NAME, xdsChannel, type XdsTls } from './transport.ts';
export type * from './types.ts';
