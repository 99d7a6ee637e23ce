/**
 * How `istioctl analyze` prints its findings and picks its exit code, shared by the CLI and the
 * conformance test: log lines, the JSON/YAML message list, and the codes 0 / 79 / 65.
 */
import { stringify } from 'yaml';
import { friendlyName, messageLine } from './run.ts';
import type { Level, Message } from './types.ts';

/** istioctl's exit codes: analyzers found issues at or above --failure-threshold; a file could not be parsed. */
export const EXIT_ANALYZER_FOUND_ISSUES = 79;
export const EXIT_FILE_PARSE_ERROR = 65;
export const EXIT_BAD_FLAGS = 64;

export const LEVELS: readonly Level[] = ['Info', 'Warning', 'Error'];

export function parseLevel(s: string): Level | undefined {
  return LEVELS.find((l) => l.toLowerCase() === s.toLowerCase());
}

export function atLeast(level: Level, threshold: Level): boolean {
  return LEVELS.indexOf(level) >= LEVELS.indexOf(threshold);
}

/** `file:line` as istioctl's "reference", or "" when the resource came from no file. */
export function reference(m: Message): string {
  const file = m.resource?.origin.file;
  if (!file) return '';
  const line = messageLine(m);
  return line === undefined ? file : `${file}:${line}`;
}

export function origin(m: Message): string {
  return m.resource ? friendlyName(m.resource) : '';
}

/** `Error [IST0101] (VirtualService default/reviews file.yaml:12) Referenced host not found: "reviews"` */
export function logLine(m: Message): string {
  if (!m.resource) return `${m.level} [${m.code}] ${m.text}`;
  const ref = reference(m);
  return `${m.level} [${m.code}] (${origin(m)}${ref ? ` ${ref}` : ''}) ${m.text}`;
}

export function documentationUrl(code: string): string {
  return `https://istio.io/latest/docs/reference/config/analysis/${code.toLowerCase()}/?ref=istioctl-analyze`;
}

/** One message as istioctl's -o json / -o yaml object (its keys in istioctl's order). */
export function structured(m: Message): Record<string, string> {
  const o: Record<string, string> = { code: m.code, documentationUrl: documentationUrl(m.code), level: m.level, message: m.text };
  if (m.resource) o.origin = origin(m);
  const ref = reference(m);
  if (ref) o.reference = ref;
  return o;
}

export function formatJson(ms: readonly Message[]): string {
  return JSON.stringify(ms.map(structured), null, '\t');
}

export function formatYaml(ms: readonly Message[]): string {
  return ms.length === 0 ? '[]\n' : stringify(ms.map(structured), { lineWidth: 0 });
}

/** The exit code istioctl gives in log output: issues at the threshold first, then unparsed files. */
export function exitCode(ms: readonly Message[], threshold: Level, parseErrors: number): number {
  if (ms.some((m) => atLeast(m.level, threshold))) return EXIT_ANALYZER_FOUND_ISSUES;
  if (parseErrors > 0) return EXIT_FILE_PARSE_ERROR;
  return 0;
}
