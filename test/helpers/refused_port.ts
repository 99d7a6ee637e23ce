/**
 * A port on which a connect is refused and stays refused for the test. Binding port 0 and
 * closing it is not enough: the kernel hands that port to the next bind(0) of any process, and
 * with test files running side by side one did get it and answered (a 403 where a connect
 * failure was expected). So the port comes from below the kernel's ephemeral range, which
 * bind(0) never picks, and is checked to refuse before it is returned.
 */
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';

/** The lowest port the kernel picks for bind(0) (net.ipv4.ip_local_port_range). */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 21_000 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

function refuses(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, host);
    s.once('connect', () => (s.destroy(), resolve(false)));
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
  });
}

/** A port in 20000..(ephemeral low - 1) on `host` where nothing listens. */
export async function refusedPort(host = '127.0.0.1'): Promise<number> {
  const low = ephemeralLow();
  for (let i = 0; i < 50; i++) {
    const port = 20_000 + Math.floor(Math.random() * (low - 20_000));
    if (await refuses(host, port)) return port;
  }
  throw new Error(`no refused port found on ${host} below ${low}`);
}
