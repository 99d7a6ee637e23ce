/**
 * DNS serves UDP and TCP on one port. With port 0 the kernel picks a free UDP port, and that
 * number may already be taken for TCP by another socket: then both are released and another
 * port is tried, so a picked port never fails to listen. A fixed port fails at once.
 */
import { createSocket, type Socket } from 'node:dgram';
import { isIP, type Server } from 'node:net';

/** How many kernel-picked ports are tried before giving up. */
const ATTEMPTS = 16;

/** Resolves once `start` calls back; rejects with the socket's first 'error' before that. */
function started(socket: Socket | Server, start: (ready: () => void) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    start(() => {
      socket.off('error', reject);
      resolve();
    });
  });
}

function closeQuietly(udp: Socket): void {
  try {
    udp.close();
  } catch {
    // already closed by the failed bind
  }
}

/** Binds a new UDP socket and `tcp` on the same port at `address`; on failure nothing stays bound. */
export async function listenUdpAndTcp(address: string, port: number, tcp: Server): Promise<{ udp: Socket; port: number }> {
  for (let attempt = 1; ; attempt++) {
    const udp = createSocket({ type: isIP(address) === 6 ? 'udp6' : 'udp4' });
    try {
      await started(udp, (ready) => udp.bind(port, address, ready));
    } catch (e) {
      closeQuietly(udp);
      throw e;
    }
    const bound = udp.address().port;
    try {
      await started(tcp, (ready) => tcp.listen(bound, address, ready));
      return { udp, port: bound };
    } catch (e) {
      closeQuietly(udp);
      const inUse = (e as NodeJS.ErrnoException).code === 'EADDRINUSE';
      if (port !== 0 || !inUse || attempt >= ATTEMPTS) throw e;
    }
  }
}
