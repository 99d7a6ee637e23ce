/**
 * istioctl proxy-status' table, from the rows /debug/syncz serves: one verdict per xDS type
 * (NOT SENT / SYNCED / STALE / STALE (Never Acknowledged)) and the row a proxy gets. Shared by
 * `tsmesh proxy-status` (over HTTP) and the dashboard's proxies table (in process), so both say
 * the same thing about the same connection.
 */
import { hostname } from 'node:os';
import { ECDS_TYPE, shortProxyName, syncStatusFields, type SyncIdentity } from './debug_proxies.ts';
import type { ConnectionStatus } from './server/connection.ts';
import type { NodeJson } from './types.ts';
import { RESOURCE } from './type_urls.ts';

/** One row of /debug/syncz: tsmesh's per-type view plus istiod's SyncStatus fields. */
export interface SyncRow {
  proxyId: string;
  proxy?: string;
  cluster_id?: string;
  istio_version?: string;
  proxy_version?: string;
  istiod?: string;
  types: Record<string, { sentNonce: string; ackedNonce: string }>;
}

/**
 * istioctl's xdsStatus: nothing sent; the last sent nonce ACKed; an older one ACKed (STALE); or
 * nothing of that type ever ACKed (a proxy that NACKs everything or stopped before its first ACK).
 */
export function xdsStatus(sent: string | undefined, acked: string | undefined): string {
  if (!sent) return 'NOT SENT';
  if (sent === acked) return 'SYNCED';
  if (!acked) return 'STALE (Never Acknowledged)';
  return 'STALE';
}

export const STATUS_HEADER = ['NAME', 'CLUSTER', 'CDS', 'LDS', 'EDS', 'RDS', 'ECDS', 'ISTIOD', 'VERSION'] as const;
const COLUMN_TYPES = [RESOURCE.CLUSTER, RESOURCE.LISTENER, RESOURCE.ENDPOINT, RESOURCE.ROUTE, ECDS_TYPE];

/** This control plane's ISTIOD column (istiod's pod name, else the host name) and default cluster. */
export function syncIdentity(o: { istiod?: string; clusterId?: string } = {}): SyncIdentity {
  return { istiod: o.istiod ?? (process.env.POD_NAME || hostname()), clusterId: o.clusterId ?? 'Kubernetes' };
}

/** The /debug/syncz row of one connection. */
export function syncRow(c: ConnectionStatus, node: NodeJson | undefined, identity: SyncIdentity): SyncRow & Record<string, unknown> {
  return { id: c.id, proxyId: c.proxyId, mode: c.mode, types: c.types, ...syncStatusFields(c, node, identity) };
}

/** One proxy's cells, in STATUS_HEADER's order. */
export function statusRow(r: SyncRow): string[] {
  const version = r.istio_version || (r.proxy_version ? `${r.proxy_version}*` : '');
  return [r.proxy ?? shortProxyName(r.proxyId), r.cluster_id ?? 'Kubernetes', ...COLUMN_TYPES.map((t) => xdsStatus(r.types[t]?.sentNonce, r.types[t]?.ackedNonce)), r.istiod ?? '', version];
}

/** The table rows, sorted by cluster then name as istioctl sorts them. */
export function statusRows(rows: readonly SyncRow[]): string[][] {
  return rows.map(statusRow).sort((a, b) => (a[1]! !== b[1]! ? (a[1]! < b[1]! ? -1 : 1) : a[0]! < b[0]! ? -1 : a[0]! > b[0]! ? 1 : 0));
}
