/**
 * The runtime's floor for the proxy bench: a byte pipe on node:net, one upstream connection per
 * downstream one, no HTTP at all (no parsing, routing, headers or pooling). What it costs per
 * request is what the runtime's event loop and sockets cost before any proxy work, so the bench
 * can show how much of a goal is left to the proxy's own code. Plain JavaScript, so Bun runs it
 * too. Usage: byte_pipe.mjs <listen port> <upstream port>
 */
import net from 'node:net';

const [port, upstream] = process.argv.slice(2).map(Number);
net
  .createServer({ noDelay: true }, (down) => {
    const up = net.connect({ port: upstream, host: '127.0.0.1', noDelay: true });
    down.on('data', (b) => up.write(b));
    up.on('data', (b) => down.write(b));
    down.on('close', () => up.destroy());
    up.on('close', () => down.destroy());
    down.on('error', () => undefined);
    up.on('error', () => undefined);
  })
  .listen(port, '127.0.0.1');
