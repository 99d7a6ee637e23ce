/**
 * The agent's DNS proxy (Istio's ISTIO_META_DNS_CAPTURE): UDP and TCP on 127.0.0.1:15053, where
 * the capture rules send the workload's port-53 traffic. A/AAAA queries for names in the lookup
 * table (built from the control plane's NameTable) are answered here; every other query is
 * forwarded to the upstream resolvers and their answer relayed as is, so a name the mesh does
 * not know is the upstream's to answer (this proxy never invents NXDOMAIN). Malformed packets
 * are dropped; forwarding is bounded in time and in how many queries wait at once.
 */
import { type Socket } from 'node:dgram';
import { createServer, type Server, type Socket as TcpSocket } from 'node:net';
import * as dnsPacket from 'dns-packet';
import { LookupTable, type LookupContext, type NameTableJson } from './lookup_table.ts';
import { forward, type Upstream } from './upstream.ts';
import { isLoopbackAddress } from './address.ts';
import { listenUdpAndTcp } from './listen_pair.ts';

/** Istio's agent answers with a 30 s TTL. */
const TTL = 30;
/** A UDP answer without EDNS is at most 512 bytes (RFC 1035); larger ones go out truncated. */
const UDP_LIMIT = 512;
/** The header's opcode field (a response repeats the query's). */
const OPCODE_BITS = 0x7800;
const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NOTIMP: 4 } as const;

export interface DnsProxyOptions extends LookupContext {
  /** Listen address (default 127.0.0.1) and port (default 15053, Istio's). */
  address?: string;
  port?: number;
  upstreams: Upstream[];
  /** Per upstream attempt (default 5 s). */
  timeoutMs?: number;
  /** Forwarded queries waiting at once; more are dropped (clients retry) (default 1024). */
  maxInFlight?: number;
  /** TCP connections at once (default 128); idle ones close after `tcpIdleMs` (default 10 s). */
  maxTcpConnections?: number;
  tcpIdleMs?: number;
  log?: (msg: string) => void;
}

export interface DnsProxyStats {
  queries: number;
  answered: number;
  forwarded: number;
  upstreamFailures: number;
  malformed: number;
  dropped: number;
}

export class DnsProxy {
  readonly stats: DnsProxyStats = { queries: 0, answered: 0, forwarded: 0, upstreamFailures: 0, malformed: 0, dropped: 0 };
  #table: LookupTable;
  #udp?: Socket;
  #tcp?: Server;
  readonly #conns = new Set<TcpSocket>();
  #inFlight = 0;
  #closed = false;

  constructor(readonly opts: DnsProxyOptions) {
    this.#table = new LookupTable({}, opts);
  }

  /** Replaces the table (a new NameTable from the control plane). */
  setNameTable(nt: NameTableJson): void {
    this.#table = new LookupTable(nt, this.opts);
  }

  get table(): LookupTable {
    return this.#table;
  }

  /** Binds UDP and TCP on the same port (port 0: one the kernel picks for both). */
  async listen(): Promise<{ address: string; port: number }> {
    const address = this.opts.address ?? '127.0.0.1';
    // This proxy forwards anything it does not know: bound off-host it would be an open
    // recursive resolver (amplification). Istio's agent serves on localhost only.
    if (!isLoopbackAddress(address)) throw new Error(`DNS proxy address ${address} is not a loopback address (127.0.0.0/8 or ::1): the agent's resolver serves this host only`);
    const tcp = createServer((s) => this.#serveTcp(s));
    tcp.maxConnections = this.opts.maxTcpConnections ?? 128;
    const { udp, port } = await listenUdpAndTcp(address, this.opts.port ?? 15053, tcp);
    udp.on('error', (e) => this.opts.log?.(`dns: udp socket error: ${e.message}`));
    udp.on('message', (msg, rinfo) => {
      void this.#handle(msg, 'udp').then((out) => {
        if (out && !this.#closed) udp.send(out, rinfo.port, rinfo.address);
      });
    });
    this.#udp = udp;
    this.#tcp = tcp;
    return { address, port };
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const s of this.#conns) s.destroy();
    await Promise.all([
      new Promise<void>((r) => (this.#udp ? this.#udp.close(() => r()) : r())),
      new Promise<void>((r) => (this.#tcp ? this.#tcp.close(() => r()) : r())),
    ]);
  }

  #serveTcp(s: TcpSocket): void {
    this.#conns.add(s);
    s.setTimeout(this.opts.tcpIdleMs ?? 10_000, () => s.destroy());
    s.on('close', () => this.#conns.delete(s));
    s.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    s.on('data', (d) => {
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      while (buf.length >= 2) {
        const n = buf.readUInt16BE(0);
        if (buf.length < 2 + n) break;
        const msg = buf.subarray(2, 2 + n);
        buf = buf.subarray(2 + n);
        void this.#handle(msg, 'tcp').then((out) => {
          if (!out || s.destroyed) return;
          const len = Buffer.alloc(2);
          len.writeUInt16BE(out.length);
          s.write(Buffer.concat([len, out]));
        });
      }
    });
  }

  /** The answer to one message, or undefined to send nothing. Never throws. */
  async #handle(msg: Buffer, protocol: 'udp' | 'tcp'): Promise<Buffer | undefined> {
    let req: dnsPacket.DecodedPacket;
    try {
      req = dnsPacket.decode(msg);
    } catch {
      this.stats.malformed++;
      return undefined;
    }
    if (req.type !== 'query' || msg.length < 12) {
      this.stats.malformed++;
      return undefined;
    }
    this.stats.queries++;
    // Only standard queries: NOTIFY, UPDATE and the rest are not ours to answer nor to pass on.
    const opcode = (req.flags ?? 0) & OPCODE_BITS;
    if (opcode !== 0) return reply(req, RCODE.NOTIMP, [], opcode);
    const q = req.questions?.[0];
    if (!q || req.questions!.length !== 1) return reply(req, RCODE.FORMERR, []);
    // The table holds Internet-class addresses: CHAOS and the others are the upstream's.
    if ((q.type === 'A' || q.type === 'AAAA') && (q.class ?? 'IN') === 'IN') {
      const hit = this.#table.lookup(q.name);
      if (hit) {
        this.stats.answered++;
        const answers: dnsPacket.Answer[] = [];
        let owner = q.name;
        if (hit.cname) {
          answers.push({ name: q.name, type: 'CNAME', ttl: TTL, class: 'IN', data: hit.cname });
          owner = hit.cname;
        }
        // A name known only by the other family is NODATA: NOERROR with no address.
        for (const ip of q.type === 'A' ? hit.v4 : hit.v6) answers.push({ name: owner, type: q.type, ttl: TTL, class: 'IN', data: ip });
        const out = reply(req, RCODE.NOERROR, answers);
        return protocol === 'udp' && out.length > UDP_LIMIT ? reply(req, RCODE.NOERROR, [], dnsPacket.TRUNCATED_RESPONSE) : out;
      }
    }
    if (this.#inFlight >= (this.opts.maxInFlight ?? 1024)) {
      this.stats.dropped++;
      return undefined;
    }
    this.#inFlight++;
    this.stats.forwarded++;
    try {
      return await forward(msg, this.opts.upstreams, protocol, this.opts.timeoutMs ?? 5000);
    } catch (e) {
      this.stats.upstreamFailures++;
      this.opts.log?.(`dns: forwarding ${q.name} ${q.type} failed: ${(e as Error).message}`);
      return reply(req, RCODE.SERVFAIL, []);
    } finally {
      this.#inFlight--;
    }
  }
}

/** An answer of ours: authoritative only when it comes from the table (NOERROR). */
function reply(req: dnsPacket.DecodedPacket, rcode: number, answers: dnsPacket.Answer[], extraFlags = 0): Buffer {
  const flags = (rcode === RCODE.NOERROR ? dnsPacket.AUTHORITATIVE_ANSWER : 0) | dnsPacket.RECURSION_AVAILABLE | (req.flag_rd ? dnsPacket.RECURSION_DESIRED : 0) | extraFlags | rcode;
  return dnsPacket.encode({ type: 'response', id: req.id, flags, questions: req.questions, answers });
}
