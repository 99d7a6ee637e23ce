/**
 * A new StreamInfo with every field present from the start. Why: the fields a request fills in
 * later (response code, upstream host, end time...) would otherwise be added one by one to an
 * object literal, each addition growing its out-of-object property store (several allocations
 * per request) and giving StreamInfos of different histories different shapes.
 */
import type { ConnectionInfo, HeaderMap, StreamInfo } from './interfaces.ts';

export function createStreamInfo(startTime: number, connection: ConnectionInfo, protocol?: StreamInfo['protocol'], requestHeaders?: HeaderMap): StreamInfo {
  return {
    startTime,
    protocol,
    requestId: undefined,
    requestHeaders,
    responseCode: undefined,
    responseCodeDetails: undefined,
    responseFlags: [],
    routeName: undefined,
    virtualHostName: undefined,
    upstreamCluster: undefined,
    upstreamHost: undefined,
    upstreamLocalAddress: undefined,
    upstreamTransportFailureReason: undefined,
    connectionTerminationDetails: undefined,
    responseHeaders: undefined,
    attemptCount: 0,
    bytesReceived: 0,
    bytesSent: 0,
    endTime: undefined,
    connection,
    downstreamRemoteAddress: undefined,
    dynamicMetadata: undefined,
    downstreamPeer: undefined,
    upstreamPeer: undefined,
    responseTrailers: undefined,
  };
}
