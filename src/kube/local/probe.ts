/** Health probes of a local cluster's programs, and the bounded wait that uses them. */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LocalProcess } from './process.ts';

export interface ProbeTls {
  ca: string;
  cert?: string;
  key?: string;
}

/** GETs `url` (http or https); resolves with the status and body, rejects on connection errors. */
export function probe(url: string, tls?: ProbeTls, timeoutMs = 5000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, { ...tls, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url} in ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/**
 * Waits until `check` returns true, or throws: at once when `proc` exits (with its exit code and
 * the tail of its log), or after `timeoutMs` (with the last probe error and the log's tail).
 */
export async function waitUntilReady(proc: LocalProcess, what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let last = '';
  for (;;) {
    if (proc.exitCode !== undefined) {
      throw new Error(`${proc.name} exited (code ${proc.exitCode}) before ${what}; the end of ${proc.logFile}:\n${proc.tail()}`);
    }
    try {
      if (await check()) return;
      last = 'not ready yet';
    } catch (e) {
      last = (e as Error).message;
    }
    if (performance.now() > deadline) {
      throw new Error(`${proc.name}: ${what} not reached in ${timeoutMs} ms (${last}); the end of ${proc.logFile}:\n${proc.tail()}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
