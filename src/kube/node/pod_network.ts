/**
 * Pod addresses on this node. Each pod gets the demo's pair (src/demo/ports.ts): a pod IP, where
 * its sidecar's inbound listeners (or, without a sidecar, its app) listen and which goes into
 * status.podIP, and an app IP on loopback behind the sidecar.
 *
 * Why the pod IPs are not 127.x here, as in the file-based demo: Kubernetes refuses loopback
 * addresses in EndpointSlices ("may not be in the loopback range (127.0.0.0/8, ::1/128)"), so the
 * EndpointSlice controller could never publish a 127.x pod. The pod /24 is instead made local
 * the way 127.0.0.0/8 is: a `local` route on the loopback device (`ip route add local
 * 198.18.0.0/24 dev lo`), which lets any process bind and reach every address in it without
 * assigning them one by one. 198.18.0.0/15 is reserved for benchmarking (RFC 2544) and is never
 * routed on the internet. Adding the route needs root; when it is already there nothing is done.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { checkPort } from '../../demo/ports.ts';
import type { PodAddresses } from './containers.ts';

export const DEFAULT_POD_NET = '198.18.0.';
export const DEFAULT_APP_NET = '127.0.2.';
const MAX_PODS = 254;

const IP = ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip'].find((p) => existsSync(p));

/** Hands out index 1..254 in both /24s, lowest free first; freed when a pod is gone. */
export class PodAddressPool {
  private readonly used = new Set<number>();

  constructor(readonly podNet: string, readonly appNet: string) {}

  allocate(): PodAddresses | undefined {
    for (let i = 1; i <= MAX_PODS; i++) {
      if (this.used.has(i)) continue;
      this.used.add(i);
      return { index: i, podIP: this.podNet + i, appIP: this.appNet + i };
    }
    return undefined;
  }

  release(index: number): void {
    this.used.delete(index);
  }
}

/** A route this agent added, removed by `remove()`; nothing when it found the net already local. */
export interface LocalRoute {
  cidr: string;
  added: boolean;
  remove(): void;
}

/**
 * Makes `net` (three octets and a dot) bindable on this host: nothing to do for 127.x or when
 * its .1 can already be bound; else a `local` route on lo (root only). Throws a message that
 * says what to run otherwise.
 */
export async function ensureLocalNet(net: string): Promise<LocalRoute> {
  const cidr = `${net}0/24`;
  const none: LocalRoute = { cidr, added: false, remove: () => undefined };
  if (net.startsWith('127.')) return none;
  const probe = await checkPort(`${net}1`, 0);
  if (probe.free) return none;
  const how = `sudo ip route add local ${cidr} dev lo`;
  if (process.platform !== 'linux' || !IP) throw new Error(`pod addresses ${cidr} are not local on this host and iproute2 is missing: make them local (${how}) or pick a pod net that is`);
  if (process.getuid?.() !== 0) throw new Error(`pod addresses ${cidr} are not local on this host: run \`${how}\` once (or run as root), then start again`);
  const r = spawnSync(IP, ['route', 'add', 'local', cidr, 'dev', 'lo', 'table', 'local'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`could not make ${cidr} local (${how}): ${r.stderr.trim() || `exit ${r.status}`}`);
  return {
    cidr,
    added: true,
    remove: () => {
      spawnSync(IP, ['route', 'del', 'local', cidr, 'dev', 'lo', 'table', 'local']);
    },
  };
}
