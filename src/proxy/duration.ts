/**
 * Envoy durations in tsmesh's JSON form ("1.5s", or {seconds, nanos}) as milliseconds: one
 * reader for the whole proxy, on top of the codec's proto3 JSON parser.
 */
import { parseDuration } from '../xds/codec.ts';

/** Milliseconds, or undefined when unset; a malformed value throws (config validation NACKs it). */
export function durationMs(d: unknown): number | undefined;
/** Milliseconds, or `fallbackMs` when unset or malformed (for config already validated). */
export function durationMs(d: unknown, fallbackMs: number): number;
export function durationMs(d: unknown, fallbackMs?: number): number | undefined {
  if (d === undefined || d === null) return fallbackMs;
  try {
    const { seconds, nanos } = parseDuration(d);
    return seconds * 1000 + Math.round(nanos / 1e6);
  } catch (e) {
    if (fallbackMs !== undefined) return fallbackMs;
    throw e;
  }
}
