/**
 * The debug port's guard against web pages: DNS rebinding and cross-site requests. The debug
 * port trusts callers on this machine (tap, config writes through /apis/v1), and a browser on
 * this machine runs any web page's scripts. So for /debug/* and /apis/* a request must
 *   - name this control plane in Host: an IP literal, `localhost`, or the address it was started
 *     with (a page whose name rebinds to 127.0.0.1 sends its own name),
 *   - not come from another site: `Sec-Fetch-Site: cross-site` is refused, and an Origin must be
 *     the request's own (http://<Host>), which the dashboard's same-origin fetches are.
 * CLI clients (tsmesh apply, proxy-status, tap; curl) send an IP or localhost Host and no Origin.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';

/** The paths guarded: everything that acts on the mesh or shows its insides. */
export function isGuardedPath(pathname: string): boolean {
  return pathname.startsWith('/debug/') || pathname.startsWith('/apis/');
}

/** Host header → host name without port or IPv6 brackets, lower case. */
function hostName(host: string): string {
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']') > 0 ? h.indexOf(']') : undefined);
  const colon = h.lastIndexOf(':');
  return colon > 0 && h.indexOf(':') === colon ? h.slice(0, colon) : h;
}

/** Why this request must be refused, or undefined when it may go on. `address`: the control plane's configured bind address. */
export function refusal(headers: IncomingMessage['headers'], address?: string): string | undefined {
  const host = headers.host;
  if (host !== undefined) {
    const name = hostName(host);
    const ok = isIP(name) !== 0 || name === 'localhost' || (address !== undefined && name === address.toLowerCase().replace(/^\[|\]$/g, ''));
    if (!ok) return `Host ${host} is not this control plane (give an IP address or localhost, as tsmesh does): a web page that renamed itself to this machine cannot reach tap or config`;
  }
  if (headers['sec-fetch-site'] === 'cross-site') return 'cross-site requests are refused: tap and config writes are for tsmesh and the dashboard on this machine';
  const origin = headers.origin;
  if (origin !== undefined) {
    let own = false;
    try {
      const u = new URL(origin);
      own = host !== undefined && u.protocol === 'http:' && u.host === new URL(`http://${host}`).host;
    } catch {
      own = false;
    }
    if (!own) return `Origin ${origin} is not this control plane's own: requests from other web pages are refused`;
  }
  return undefined;
}

/** Answers 403 to a refused request on a guarded path; true when it did. */
export function httpGuard(address?: string): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (!isGuardedPath(path)) return false;
    const why = refusal(req.headers, address);
    if (why === undefined) return false;
    res.writeHead(403, { 'content-type': 'text/plain; charset=utf-8' }).end(`${why}\n`);
    return true;
  };
}
