/**
 * `promtool check metrics` (Debian's prometheus package) on a scraped exposition: Prometheus' own
 * parser decides whether the text is well formed. Its naming lints (counters without `_total`)
 * flag Istio's own names (citadel_server_csr_count) and are returned, not failed on.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const PROMTOOL = '/usr/bin/promtool';

/** A reason to skip when promtool is not installed, else false. */
export const NO_PROMTOOL: string | false = existsSync(PROMTOOL) ? false : `${PROMTOOL} is not installed (Debian package prometheus)`;

/** Throws with promtool's message when Prometheus cannot parse `text`; else its lint findings. */
export function promtoolCheck(text: string): string[] {
  const r = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 30_000 });
  const out = `${r.stdout}${r.stderr}`.trim();
  // promtool exits 1 when the text does not parse, 3 when it parses but has lint findings.
  if (r.status !== 0 && r.status !== 3) throw new Error(`promtool check metrics: exit ${r.status}: ${out}`);
  return out ? out.split('\n') : [];
}
