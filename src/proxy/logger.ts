/**
 * The proxy's log: Envoy's levels (trace..critical, off), one line per event on stderr, changeable
 * at run time through the admin /logging endpoint. Degraded modes log once per cause (`warnOnce`)
 * so bad traffic cannot flood the log.
 */
export const LEVELS = ['trace', 'debug', 'info', 'warning', 'error', 'critical', 'off'] as const;
export type LogLevel = (typeof LEVELS)[number];

let current = LEVELS.indexOf('info');
const warned = new Set<string>();

export function setLogLevel(level: string): boolean {
  const l = level === 'warn' ? 'warning' : level;
  const i = LEVELS.indexOf(l as LogLevel);
  if (i < 0) return false;
  current = i;
  return true;
}

export function logLevel(): LogLevel {
  return LEVELS[current];
}

function emit(level: number, msg: string): void {
  if (level < current) return;
  process.stderr.write(`[${new Date().toISOString()}][${process.pid}][${LEVELS[level]}] ${msg}\n`);
}

export const log = {
  enabled: (level: LogLevel) => LEVELS.indexOf(level) >= current,
  trace: (m: string) => emit(0, m),
  debug: (m: string) => emit(1, m),
  info: (m: string) => emit(2, m),
  warn: (m: string) => emit(3, m),
  error: (m: string) => emit(4, m),
  /** Logs a degraded-mode message the first time its key is seen. */
  warnOnce: (key: string, m: string) => {
    if (warned.has(key)) return;
    if (warned.size > 10000) warned.clear();
    warned.add(key);
    emit(3, m);
  },
};
