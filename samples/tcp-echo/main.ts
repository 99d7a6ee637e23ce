/**
 * TCP echo: for every line received, answers "<prefix> <line>" (like Istio's tcp-echo, whose
 * prefix is "hello"). Each connection stays open until the client closes it.
 * Run: `node --import tsx samples/tcp-echo/main.ts [ports] [prefix]` e.g. `9000,9001 hello`;
 * or env PORT / PREFIX.
 */
import { createServer, type Socket } from 'node:net';
import { closeOnSignals, isMain, listen, resolvePort, type BaseOptions, type Running } from '../common/server.ts';

export interface TcpEchoOptions extends BaseOptions {
  prefix?: string;
}

export async function start(opts: TcpEchoOptions = {}): Promise<Running> {
  const env = opts.env ?? process.env;
  const prefix = opts.prefix ?? env.PREFIX ?? 'hello';
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let pending = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        socket.write(`${prefix} ${pending.slice(0, nl + 1)}`);
        pending = pending.slice(nl + 1);
      }
    });
    // A last line without a newline is still answered when the client half-closes.
    socket.on('end', () => {
      if (pending) socket.write(`${prefix} ${pending}\n`);
      socket.end();
    });
  });
  server.on('close', () => sockets.forEach((s) => s.destroy()));
  const running = await listen(server, resolvePort(opts, env, 9000), opts.host ?? env.HOST);
  (opts.log ?? console.log)(`tcp-echo listening on port ${running.port} with prefix "${prefix}"`);
  return {
    port: running.port,
    close: () => {
      const done = running.close();
      sockets.forEach((s) => s.destroy());
      return done;
    },
  };
}

if (isMain(import.meta.url)) {
  const [ports, prefix] = process.argv.slice(2);
  const list = ports ? ports.split(',').map(Number) : [resolvePort({}, process.env, 9000)];
  const all = await Promise.all(list.map((port) => start({ port, prefix })));
  closeOnSignals({ port: all[0]!.port, close: async () => void (await Promise.all(all.map((r) => r.close()))) });
}
