/**
 * The original destination of a captured connection, read by the kernel: iptables' REDIRECT
 * rewrites the destination to the proxy's 15001/15006, and conntrack keeps the address the app
 * dialed, which getsockopt(SO_ORIGINAL_DST) (IPv4) / IP6T_SO_ORIGINAL_DST (IPv6) returns. Node has
 * no API for either, so a small N-API addon does the call (native/so_original_dst.c, compiled at
 * install by native/build.mjs into native/build/). Loaded lazily: only REDIRECT sidecars need it,
 * and when it is missing they fail at start with how to get it, never later on a connection.
 *
 * The descriptor: net.Socket has no public fd. `socket._handle.fd` is libuv's descriptor of the
 * TCP handle (Node's TCPWrap exposes it on Unix; it is the accepted socket for sockets a
 * net.Server hands out, which is all the proxy asks about). Read at accept time, while the handle
 * is open.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Socket } from 'node:net';
import type { Destination, OriginalDestinationFn } from './original_dst.ts';
import { normalizeIp } from './cidr.ts';

interface Addon {
  originalDst(fd: number): Destination;
  setTransparent(fd: number, family: 4 | 6): void;
}

/** src/proxy/listener/ and dist/proxy/listener/ are both three levels below the repository. */
export const ADDON_PATH = fileURLToPath(new URL('../../../native/build/so_original_dst.node', import.meta.url));

export const MISSING_ADDON =
  'SO_ORIGINAL_DST needs the native addon (native/build/so_original_dst.node): install a C compiler (apt-get install -y gcc) and run npm install again';

let addon: Addon | undefined;

/** The addon, or throws with what to do. */
export function loadAddon(): Addon {
  if (addon) return addon;
  if (process.platform !== 'linux') throw new Error('SO_ORIGINAL_DST (traffic capture) is Linux-only; use INTERCEPTION_MODE NONE here');
  if (!existsSync(ADDON_PATH)) throw new Error(MISSING_ADDON);
  try {
    addon = createRequire(import.meta.url)(ADDON_PATH) as Addon;
  } catch (e) {
    throw new Error(`${MISSING_ADDON} (loading it failed: ${(e as Error).message})`);
  }
  return addon;
}

/** The socket's file descriptor (see the header comment), or undefined when it has none. */
export function socketFd(socket: Socket): number | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/**
 * The OriginalDestinationFn for REDIRECT capture. A connection that was not redirected (ENOENT:
 * no conntrack NAT entry, e.g. a direct connection to 15001) keeps its local address, as Envoy's
 * original_dst filter does. Any other failure (EBADF, ENOPROTOOPT: a broken addon or kernel)
 * throws, so the listener counts it instead of quietly routing everything as 15001.
 */
export function soOriginalDestination(): OriginalDestinationFn {
  const a = loadAddon();
  return (socket) => {
    const local = socket.localAddress && socket.localPort ? { ip: normalizeIp(socket.localAddress), port: socket.localPort } : undefined;
    const fd = socketFd(socket);
    if (fd === undefined) return local;
    try {
      const d = a.originalDst(fd);
      return { ip: normalizeIp(d.ip), port: d.port };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return local;
      throw e;
    }
  };
}

/** IP_TRANSPARENT on a listening socket (TPROXY mode: accept connections for foreign addresses). */
export function setTransparent(fd: number, family: 4 | 6): void {
  loadAddon().setTransparent(fd, family);
}
