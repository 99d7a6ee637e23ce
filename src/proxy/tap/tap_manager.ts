/**
 * The proxy's live taps (one process, one manager). The HTTP connection manager calls
 * `tapStream` for a finished stream only when `tapHook.active` is true: with nobody tapping the
 * request path pays one property read and does no tap work (`tapWork.streams` stays 0, which
 * test/proxy/tap_manager.test.ts checks through a real proxy).
 */
import { getHeader } from '../http/common/header_utils.ts';
import type { StreamInfo } from '../interfaces.ts';
import type { Counter, Gauge, StatsStore } from '../stats/stats_store.ts';
import type { TapEvent, TapSession } from './tap_session.ts';

/** Read by the HCM on every finished stream: keep it a plain object with one boolean. */
export const tapHook = { active: false };

/** Work counters: streams the tap code looked at since start (exposed as tap.streams_inspected). */
export const tapWork = { streams: 0, sessionsStarted: 0 };

const sessions = new Set<TapSession>();

/** The proxy's tap stats (tap.active, tap.sessions_total, tap.streams_inspected, tap.events_sent, tap.events_dropped). */
let stats: { active: Gauge; total: Counter; inspected: Counter; sent: Counter; dropped: Counter } | undefined;

export function bindTapStats(store: StatsStore): void {
  stats = { active: store.gauge('tap.active'), total: store.counter('tap.sessions_total'), inspected: store.counter('tap.streams_inspected'), sent: store.counter('tap.events_sent'), dropped: store.counter('tap.events_dropped') };
  stats.active.set(sessions.size);
}

/** A session's final figures, added to the proxy's totals when it ends. */
function countEnded(s: TapSession): void {
  stats?.sent.inc(s.sent);
  stats?.dropped.inc(s.dropped);
}

/** Taps one proxy runs at once: each holds up to DEFAULT_MAX_QUEUE events and costs every request. */
export const MAX_TAPS = 8;

export function activeTaps(): number {
  return sessions.size;
}

export function addTap(s: TapSession): () => void {
  sessions.add(s);
  tapWork.sessionsStarted++;
  tapHook.active = true;
  stats?.total.inc();
  stats?.active.set(sessions.size);
  let removed = false;
  return () => {
    if (removed) return;
    removed = true;
    sessions.delete(s);
    tapHook.active = sessions.size > 0;
    stats?.active.set(sessions.size);
    countEnded(s);
  };
}

/** A finished HTTP stream, offered to every session whose match it passes. */
export function tapStream(info: StreamInfo, trafficDirection: string | undefined): void {
  tapWork.streams++;
  stats?.inspected.inc();
  const h = info.requestHeaders;
  const method = (h && getHeader(h, ':method')) ?? '';
  const path = (h && getHeader(h, ':path')) ?? '';
  // Matched and shown without the query unless a tap asks for it (showQuery).
  const q = path.indexOf('?');
  const bare = q < 0 ? path : path.slice(0, q);
  let event: TapEvent | undefined;
  const build = () => (event ??= toEvent(info, trafficDirection, method, path));
  let stripped: TapEvent | undefined;
  const buildBare = q < 0 ? build : () => (stripped ??= { ...build(), path: bare });
  for (const s of sessions) if (s.matches(method, bare)) s.offer(s.match.showQuery ? build : buildBare);
}

function toEvent(info: StreamInfo, trafficDirection: string | undefined, method: string, path: string): TapEvent {
  const c = info.connection;
  const outbound = trafficDirection === 'OUTBOUND';
  const h = info.requestHeaders;
  const end = info.endTime ?? Date.now();
  return {
    type: 'event',
    time: new Date(info.startTime).toISOString(),
    direction: outbound ? 'outbound' : 'inbound',
    source: `${info.downstreamRemoteAddress ?? c.remoteAddress}:${c.remotePort}`,
    ...(c.peerCertificateUris?.[0] ? { sourceIdentity: c.peerCertificateUris[0] } : {}),
    destination: outbound ? info.upstreamHost?.address ?? info.upstreamCluster ?? '-' : `${c.localAddress}:${c.localPort}`,
    tls: c.transportProtocol === 'tls' || c.peerCertificateUris !== undefined,
    method,
    authority: (h && getHeader(h, ':authority')) ?? '',
    path,
    status: info.responseCode ?? 0,
    latencyMs: Math.round((end - info.startTime) * 1000) / 1000,
    responseFlags: [...info.responseFlags],
    ...(info.upstreamCluster ? { upstreamCluster: info.upstreamCluster } : {}),
    ...(info.requestId ? { requestId: info.requestId } : {}),
  };
}
