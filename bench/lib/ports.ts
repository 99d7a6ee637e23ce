/** Free loopback ports for benchmark processes that need a fixed port in a config file. */
import { freePort as freePortOn } from '../../src/demo/ports.ts';

export function freePort(host = '127.0.0.1'): Promise<number> {
  return freePortOn(host);
}
