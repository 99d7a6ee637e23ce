/**
 * Istio's stats HTTP filter (istio.stats; config stats.PluginConfig as a TypedStruct): at the end
 * of each stream it records Istio's standard metrics — istio_requests_total,
 * istio_request_duration_milliseconds, istio_request_bytes, istio_response_bytes, and for gRPC
 * istio_request_messages_total / istio_response_messages_total (length-prefixed messages counted
 * in the bodies) — in the process's labelled registry (metrics_registry.ts), rendered on
 * /stats/prometheus (admin and 15090). The cap on series and its drop counter
 * (`tsmesh_istio_series_dropped_total`) are the registry's.
 * Divergences from Istio's proxy, known and kept: istio_request_bytes / istio_response_bytes are
 * body bytes (Istio records the downstream wire bytes, headers included, so a GET is a few
 * hundred bytes there and 0 here; Istio's docs say "body sizes"): the codecs do not count header
 * bytes, and summing the header map per request would cost every stream for an approximation
 * (HTTP/2 headers are HPACK-compressed on the wire). gRPC message counts are recorded when the
 * stream ends, not every tcp_reporting_duration: mid-stream the response code, grpc-status and
 * flags that label them are not known yet.
 */
import { FilterStatus, type HeaderMap, type HttpFilter, type HttpFilterFactory, type HttpFilterFactoryContext, type StreamFilterCallbacks } from '../interfaces.ts';
import type { EnvoyJson } from '../../xds/types.ts';
import { getHeader } from '../http/common/header_utils.ts';
import { labelledRegistry } from './metrics_registry.ts';
import { buildPlans, compileStatsConfig, HTTP_METRICS, type MetricPlan } from './stats_config.ts';
import { StatsReporter } from './stats_reporter.ts';
import { GrpcFrameCounter } from './grpc_frames.ts';
import { SeriesHandles } from './series_handles.ts';

export const ISTIO_STATS_FILTER_NAME = 'istio.stats';

type Plans = { [K in keyof typeof HTTP_METRICS]?: MetricPlan };

/** Slots of SeriesHandles.resolve, in Istio's recording order. */
const [REQUESTS, DURATION, REQUEST_BYTES, RESPONSE_BYTES, REQUEST_MESSAGES, RESPONSE_MESSAGES] = [0, 1, 2, 3, 4, 5];

class IstioStatsFilter implements HttpFilter {
  private grpc = false;
  private reqFrames?: GrpcFrameCounter;
  private respFrames?: GrpcFrameCounter;
  private grpcStatus?: string;

  constructor(
    private readonly plans: Plans,
    private readonly handles: SeriesHandles,
    private readonly reporter: StatsReporter,
    private readonly cb: StreamFilterCallbacks,
  ) {}

  decodeHeaders(h: HeaderMap): FilterStatus {
    const ct = getHeader(h, 'content-type');
    if (ct !== undefined && ct.startsWith('application/grpc')) {
      this.grpc = true;
      if (this.plans.request_messages_total) this.reqFrames = new GrpcFrameCounter();
      if (this.plans.response_messages_total) this.respFrames = new GrpcFrameCounter();
      // Only gRPC needs the response body and trailers: other streams skip the encode hooks.
      this.encodeData = this.grpcEncodeData;
      this.encodeTrailers = this.grpcEncodeTrailers;
    }
    return FilterStatus.Continue;
  }

  decodeData(chunk: Buffer): FilterStatus {
    this.reqFrames?.feed(chunk);
    return FilterStatus.Continue;
  }

  encodeHeaders(_s: number, h: HeaderMap): FilterStatus {
    // Trailers-only gRPC responses carry the status in the headers.
    if (this.grpc) this.grpcStatus = getHeader(h, 'grpc-status');
    return FilterStatus.Continue;
  }

  encodeData?: (chunk: Buffer) => void;
  encodeTrailers?: (t: HeaderMap) => void;

  private grpcEncodeData(chunk: Buffer): void {
    this.respFrames?.feed(chunk);
  }

  private grpcEncodeTrailers(t: HeaderMap): void {
    this.grpcStatus = getHeader(t, 'grpc-status') ?? this.grpcStatus;
  }

  onStreamComplete(): void {
    const info = this.cb.streamInfo;
    const x = this.reporter.input(info, this.cb.connection, this.grpc ? 'grpc' : 'http', true, this.grpc ? (this.grpcStatus ?? '') : '');
    const s = this.handles.resolve(x, info, this.grpc);
    s[REQUESTS]?.inc(1);
    // Istio records the duration only when the stream has one (requestComplete()), never a 0.
    if (info.endTime !== undefined) s[DURATION]?.record(info.endTime - info.startTime);
    s[REQUEST_BYTES]?.record(info.bytesReceived);
    s[RESPONSE_BYTES]?.record(info.bytesSent);
    if (this.reqFrames) s[REQUEST_MESSAGES]?.inc(this.reqFrames.count);
    if (this.respFrames) s[RESPONSE_MESSAGES]?.inc(this.respFrames.count);
  }
}

export const istioStatsFilterFactory: HttpFilterFactory = {
  create(typedConfig: EnvoyJson, ctx: HttpFilterFactoryContext) {
    const cfg = compileStatsConfig(typedConfig);
    const plans: Plans = buildPlans(labelledRegistry(ctx.stats), cfg, HTTP_METRICS, true);
    const reporter = new StatsReporter(ctx.node, ctx.trafficDirection, ctx.clusterManager, cfg);
    const p = plans;
    const handles = new SeriesHandles(
      [p.requests_total, p.request_duration_milliseconds, p.request_bytes, p.response_bytes, p.request_messages_total, p.response_messages_total],
      [false, false, false, false, true, true],
    );
    return (cb: StreamFilterCallbacks) => new IstioStatsFilter(plans, handles, reporter, cb);
  },
};
