/**
 * Access logs (Envoy's AccessLog with envoy.access_loggers.file), for the HTTP connection manager
 * and tcp_proxy alike: one line per finished stream or connection, formatted by ./formatter.ts
 * (text_format / text_format_source / json_format, or Envoy's default format), written to `path`
 * (a file, /dev/stdout or /dev/stderr). Writing never blocks the data path: lines are queued and
 * flushed in one write every FLUSH_INTERVAL_MS (or at once past FLUSH_BYTES, as Envoy buffers its
 * log files) through an async stream shared by every logger that names the same path;
 * flushAccessLogs() writes what is queued and waits for it on shutdown.
 * AccessLog.filter (./access_log_filter.ts) decides per stream whether a logger writes.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import type { EnvoyJson } from '../../../xds/types.ts';
import { ACCESS_LOGGER } from '../../../xds/type_urls.ts';
import { log } from '../../logger.ts';
import type { HeaderMap, StreamInfo } from '../../interfaces.ts';
import { compileJsonFormat, compileTextFormat, type FormatContext } from './formatter.ts';
import { compileAccessLogFilter } from './access_log_filter.ts';

/** Envoy's default access log format (used when FileAccessLog has no format). */
export const DEFAULT_ACCESS_LOG_FORMAT =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"\n';

/** Beyond this many queued bytes (a stalled disk) lines are dropped, not buffered without bound. */
const MAX_QUEUED_BYTES = 16 * 1024 * 1024;

/**
 * Queued lines are written at most this long after the first of them: one write (a thread-pool
 * round trip) per interval instead of per event-loop turn, which under load was a write per few
 * requests. Envoy flushes its log files on an interval too (bootstrap file_flush_interval).
 */
const FLUSH_INTERVAL_MS = 50;
/** ... or as soon as this much is queued (Envoy's log file buffer is 64 KiB). */
const FLUSH_BYTES = 64 * 1024;

/** One path's output: queued lines, written in one chunk per FLUSH_INTERVAL_MS or FLUSH_BYTES. */
class LogSink {
  private queue: string[] = [];
  private queuedBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private out: Writable | undefined;
  dropped = 0;

  constructor(private readonly path: string) {}

  write(line: string): void {
    if (this.queuedBytes > MAX_QUEUED_BYTES) {
      this.dropped++;
      return;
    }
    this.queue.push(line);
    this.queuedBytes += line.length;
    if (this.queuedBytes >= FLUSH_BYTES) this.flush();
    else this.timer ??= setTimeout(this.onTimer, FLUSH_INTERVAL_MS);
  }

  private readonly onTimer = (): void => {
    this.timer = undefined;
    this.flush();
  };

  flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.queue.length === 0) return;
    const chunk = this.queue.join('');
    this.queue = [];
    this.queuedBytes = 0;
    this.stream().write(chunk);
  }

  /** Writes what is queued and resolves once the stream has taken every earlier write. */
  drained(): Promise<void> {
    this.flush();
    const out = this.out;
    if (!out || out === process.stdout || out === process.stderr) return Promise.resolve();
    if (out.destroyed) return Promise.resolve();
    // An empty write's callback runs once every earlier chunk is written.
    return new Promise((resolve) => out.write('', () => resolve()));
  }

  private stream(): Writable {
    if (this.out) return this.out;
    if (this.path === '/dev/stdout') return (this.out = process.stdout);
    if (this.path === '/dev/stderr') return (this.out = process.stderr);
    const s: WriteStream = createWriteStream(this.path, { flags: 'a' });
    s.on('error', (e) => log.warnOnce(`access-log:${this.path}`, `access log ${this.path}: ${e.message}`));
    return (this.out = s);
  }
}

const sinks = new Map<string, LogSink>();

/**
 * Writes every queued line now and waits until file streams have taken them: the last step of a
 * graceful shutdown, so the lines of the requests the drain let finish are not lost.
 */
export async function flushAccessLogs(): Promise<void> {
  await Promise.all([...sinks.values()].map((s) => s.drained()));
}

function sinkFor(path: string): LogSink {
  let s = sinks.get(path);
  if (!s) sinks.set(path, (s = new LogSink(path)));
  return s;
}

export type AccessLogger = (info: StreamInfo, requestHeaders?: HeaderMap, responseHeaders?: HeaderMap) => void;

/** Validates AccessLog[] (throws naming the field to NACK) and returns one logger for all of them, or undefined when there are none. */
export function compileAccessLogs(list: unknown, where: string): AccessLogger | undefined {
  if (list === undefined) return undefined;
  if (!Array.isArray(list)) throw new Error(`${where}.access_log must be a list`);
  const loggers = list.map((a: EnvoyJson, i) => compileOne(a, `${where}.access_log[${i}]`));
  if (loggers.length === 0) return undefined;
  return (info, requestHeaders, responseHeaders) => {
    const c: FormatContext = { info, requestHeaders: requestHeaders ?? info.requestHeaders, responseHeaders: responseHeaders ?? info.responseHeaders };
    for (const l of loggers) {
      try {
        l(c);
      } catch (e) {
        log.warnOnce(`access-log-format:${(e as Error).message}`, `access log: ${(e as Error).message}`);
      }
    }
  };
}

function compileOne(a: EnvoyJson, at: string): (c: FormatContext) => void {
  const filter = a?.filter === undefined ? undefined : compileAccessLogFilter(a.filter, `${at}.filter`);
  const t = a?.typed_config;
  if (t?.['@type'] !== ACCESS_LOGGER.FILE) throw new Error(`${at}.typed_config: access logger ${t?.['@type'] ?? a?.name} is not supported (only ${ACCESS_LOGGER.FILE})`);
  const path = t.path;
  if (typeof path !== 'string' || !path) throw new Error(`${at}.typed_config.path: required`);
  const format = compileFormat(t, `${at}.typed_config`);
  const sink = sinkFor(path);
  if (filter) return (c) => {
    if (filter(c.info)) sink.write(format(c));
  };
  return (c) => sink.write(format(c));
}

function compileFormat(t: EnvoyJson, at: string): (c: FormatContext) => string {
  try {
    if (t.json_format) return json(compileJsonFormat(t.json_format));
    const lf = t.log_format;
    if (!lf) return compileTextFormat(DEFAULT_ACCESS_LOG_FORMAT);
    if (typeof lf.text_format === 'string') return compileTextFormat(lf.text_format);
    if (lf.text_format_source) {
      const src = lf.text_format_source;
      if (typeof src.inline_string !== 'string') throw new Error('text_format_source: only inline_string is supported');
      return compileTextFormat(src.inline_string);
    }
    if (lf.json_format) return json(compileJsonFormat(lf.json_format, lf.omit_empty_values === true));
    return compileTextFormat(DEFAULT_ACCESS_LOG_FORMAT);
  } catch (e) {
    throw new Error(`${at}: ${(e as Error).message}`, { cause: e });
  }
}

/** JSON lines end with a newline, as Envoy writes them. */
function json(f: (c: FormatContext) => string): (c: FormatContext) => string {
  return (c) => f(c) + '\n';
}
