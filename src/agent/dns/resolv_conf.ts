/**
 * What the DNS proxy needs of /etc/resolv.conf, read once at start as Istio's agent does: the
 * upstream nameservers it forwards to and the search domains (the first one gives the
 * `<host>.<search>` names resolvers try first, answered from the table).
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';

export interface ResolvConf {
  nameservers: string[];
  search: string[];
}

/** Parses resolv.conf text; unknown lines and bad nameserver addresses are skipped. */
export function parseResolvConf(text: string): ResolvConf {
  const nameservers: string[] = [];
  let search: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const [key, ...rest] = line.split(/\s+/);
    if (key === 'nameserver' && rest[0]) {
      const ip = rest[0].split('%')[0]!; // fe80::1%eth0: the zone is not part of the address
      if (isIP(ip) !== 0) nameservers.push(ip);
    } else if (key === 'search') search = rest.map(normalize).filter(Boolean);
    else if (key === 'domain' && rest[0]) search = [normalize(rest[0])];
  }
  return { nameservers, search };
}

export function readResolvConf(path = '/etc/resolv.conf'): ResolvConf {
  try {
    return parseResolvConf(readFileSync(path, 'utf8'));
  } catch {
    return { nameservers: [], search: [] };
  }
}

/** Lower case, without the trailing dot: the form names are compared in. */
export function normalize(name: string): string {
  const n = name.toLowerCase();
  return n.endsWith('.') ? n.slice(0, -1) : n;
}
