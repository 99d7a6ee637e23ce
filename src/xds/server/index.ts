/** The ADS server: what to send (Generator + ResourceCache) apart from how (SotW / delta handlers). */
export { DiscoveryServer, type PushStats } from './discovery_server.ts';
export { Connection, WatchState, type ConnectionStatus, type WatchStatus, type NackRecord } from './connection.ts';
export { Debouncer, type DebounceOptions } from './debounce.ts';
export { ResourceCache, defaultShapeKey, hashBytes, versionOf, type Entry, type Generated, type ShapeKey } from './resources.ts';
export { SILENT_LOGGER, CONSOLE_LOGGER, type Logger } from './core.ts';
export type { DiscoveryServerOptions, PushRequest, MergedPush, XdsMetrics } from './types.ts';
