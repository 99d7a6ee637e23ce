/**
 * HPACK (RFC 7541) for the proxy's own HTTP/2 codec: a decoder with the dynamic table and Huffman
 * strings, and an encoder that writes literal fields without indexing (no table to keep in step
 * with the peer, so nothing an attacker can grow; the few bytes more per response are cheaper on
 * loopback than the bookkeeping). Any violation throws HpackError, which the session turns into a
 * COMPRESSION_ERROR.
 */
import type { HeaderMap } from '../../interfaces.ts';
import { HOP_BY_HOP } from '../common/header_utils.ts';
import { HUFFMAN_CODES, HUFFMAN_LENGTHS, STATIC_TABLE } from './hpack_tables.ts';

export class HpackError extends Error {}

/** The decoding tree: node n's children are tree[2n] and tree[2n + 1]; a leaf holds -(symbol + 1). */
const TREE = (() => {
  const t = new Int32Array(2 * 512);
  let nodes = 1;
  for (let sym = 0; sym <= 256; sym++) {
    const code = HUFFMAN_CODES[sym]!;
    let n = 0;
    for (let i = HUFFMAN_LENGTHS[sym]! - 1; i >= 0; i--) {
      const slot = 2 * n + ((code >>> i) & 1);
      if (i === 0) t[slot] = -(sym + 1);
      else n = t[slot] ||= nodes++;
    }
  }
  return t;
})();
const EOS = -257;

function huffmanDecode(buf: Buffer, start: number, end: number): string {
  let out = '';
  let n = 0;
  // Bits read since the last symbol, and whether they were all ones: the only valid padding is
  // fewer than 8 one bits (a prefix of EOS), RFC 7541 5.2.
  let depth = 0;
  let ones = true;
  for (let i = start; i < end; i++) {
    const byte = buf[i]!;
    for (let b = 7; b >= 0; b--) {
      const bit = (byte >> b) & 1;
      const v = TREE[2 * n + bit]!;
      depth++;
      if (bit === 0) ones = false;
      if (v < 0) {
        if (v === EOS) throw new HpackError('EOS in a Huffman string');
        out += String.fromCharCode(-v - 1);
        n = 0;
        depth = 0;
        ones = true;
      } else n = v;
    }
  }
  if (depth > 7 || !ones) throw new HpackError('invalid Huffman padding');
  return out;
}

/** Decodes header blocks of one connection, keeping its dynamic table. */
export class HpackDecoder {
  /** A ring, newest at #head: entry n (0 = newest) is #ring[(#head + n) & (#ring.length - 1)]. */
  #ring: ([string, string] | undefined)[] = new Array(32);
  #head = 0;
  #count = 0;
  #size = 0;
  #max: number;
  /** The SETTINGS_HEADER_TABLE_SIZE we advertised: a size update may not exceed it. */
  readonly #limit: number;
  #buf: Buffer = Buffer.alloc(0);
  #pos = 0;
  #end = 0;

  constructor(limit = 4096) {
    this.#limit = this.#max = limit;
  }

  /** Decodes one complete header block, calling `field` for each field in order. */
  decode(buf: Buffer, start: number, end: number, field: (name: string, value: string) => void): void {
    this.#buf = buf;
    this.#pos = start;
    this.#end = end;
    let first = true;
    while (this.#pos < end) {
      const b = buf[this.#pos]!;
      if (b & 0x80) {
        const e = this.#entry(this.#int(7));
        field(e[0], e[1]);
      } else if (b & 0x40) {
        const idx = this.#int(6);
        const name = idx ? this.#entry(idx)[0] : this.#str();
        const value = this.#str();
        this.#add(name, value);
        field(name, value);
      } else if (b & 0x20) {
        // RFC 7541 4.2: only at the start of a block.
        if (!first) throw new HpackError('dynamic table size update after a field');
        const size = this.#int(5);
        if (size > this.#limit) throw new HpackError(`dynamic table size ${size} above the ${this.#limit} allowed`);
        this.#max = size;
        this.#evict();
        continue;
      } else {
        // Literal without indexing (0000) or never indexed (0001): both 4-bit prefixes.
        const idx = this.#int(4);
        const name = idx ? this.#entry(idx)[0] : this.#str();
        field(name, this.#str());
      }
      first = false;
    }
  }

  #int(prefix: number): number {
    const mask = (1 << prefix) - 1;
    let v = this.#buf[this.#pos++]! & mask;
    if (v < mask) return v;
    for (let m = 0; ; m += 7) {
      if (this.#pos >= this.#end) throw new HpackError('truncated integer');
      if (m > 21) throw new HpackError('integer too large');
      const b = this.#buf[this.#pos++]!;
      v += (b & 0x7f) * 2 ** m;
      if ((b & 0x80) === 0) return v;
    }
  }

  #str(): string {
    if (this.#pos >= this.#end) throw new HpackError('truncated string');
    const huffman = (this.#buf[this.#pos]! & 0x80) !== 0;
    const len = this.#int(7);
    const s = this.#pos;
    if (len > this.#end - s) throw new HpackError('truncated string');
    this.#pos += len;
    return huffman ? huffmanDecode(this.#buf, s, s + len) : this.#buf.toString('latin1', s, s + len);
  }

  #entry(index: number): readonly [string, string] {
    if (index === 0) throw new HpackError('index 0');
    if (index <= STATIC_TABLE.length) return STATIC_TABLE[index - 1]!;
    const n = index - STATIC_TABLE.length - 1;
    if (n >= this.#count) throw new HpackError(`index ${index} beyond the table`);
    return this.#ring[(this.#head + n) & (this.#ring.length - 1)]!;
  }

  #add(name: string, value: string): void {
    if (this.#count === this.#ring.length) {
      // Unrolled oldest-last into a ring twice the size.
      const next: ([string, string] | undefined)[] = new Array(this.#ring.length * 2);
      for (let i = 0; i < this.#count; i++) next[i] = this.#ring[(this.#head + i) & (this.#ring.length - 1)];
      this.#ring = next;
      this.#head = 0;
    }
    this.#head = (this.#head - 1) & (this.#ring.length - 1);
    this.#ring[this.#head] = [name, value];
    this.#count++;
    this.#size += name.length + value.length + 32;
    this.#evict();
  }

  #evict(): void {
    while (this.#size > this.#max) {
      const at = (this.#head + this.#count - 1) & (this.#ring.length - 1);
      const [n, v] = this.#ring[at]!;
      this.#ring[at] = undefined;
      this.#count--;
      this.#size -= n.length + v.length + 32;
    }
  }
}

const STATUS_INDEX = new Map([[200, 8], [204, 9], [206, 10], [304, 11], [400, 12], [404, 13], [500, 14]]);
const NAME_INDEX = new Map<string, number>();
STATIC_TABLE.forEach(([n], i) => {
  if (!NAME_INDEX.has(n)) NAME_INDEX.set(n, i + 1);
});

/** Encodes header blocks: indexed :status where the static table has it, literals without indexing. */
export class HpackEncoder {
  #out = Buffer.allocUnsafe(4096);
  #pos = 0;

  /** Starts a block; the previous one's bytes are reused. */
  begin(): void {
    this.#pos = 0;
  }

  status(code: number): void {
    const idx = STATUS_INDEX.get(code);
    if (idx !== undefined) {
      this.#room(1);
      this.#out[this.#pos++] = 0x80 | idx;
    } else this.field(':status', String(code));
  }

  field(name: string, value: string): void {
    const idx = NAME_INDEX.get(name);
    if (idx !== undefined) this.#int(0, 4, idx);
    else {
      this.#int(0, 4, 0);
      this.#str(name);
    }
    this.#str(value);
  }

  /**
   * Every field of a HeaderMap but pseudo-headers and the connection-specific fields HTTP/2
   * forbids (RFC 9113 8.2.2), repeated values as repeated fields.
   */
  fields(headers: HeaderMap): void {
    for (const [k, v] of headers) {
      if (k.charCodeAt(0) === 58 || HOP_BY_HOP.has(k)) continue;
      if (typeof v === 'string') this.field(k, v);
      else for (const x of v) this.field(k, x);
    }
  }

  /** The block since begin(): a view, valid until the next begin(). */
  end(): Buffer {
    return this.#out.subarray(0, this.#pos);
  }

  #room(n: number): void {
    if (this.#pos + n <= this.#out.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.#out.length * 2, this.#pos + n));
    this.#out.copy(next, 0, 0, this.#pos);
    this.#out = next;
  }

  #int(first: number, prefix: number, v: number): void {
    this.#room(6);
    const mask = (1 << prefix) - 1;
    if (v < mask) {
      this.#out[this.#pos++] = first | v;
      return;
    }
    this.#out[this.#pos++] = first | mask;
    v -= mask;
    while (v >= 128) {
      this.#out[this.#pos++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    this.#out[this.#pos++] = v;
  }

  #str(s: string): void {
    this.#int(0, 7, Buffer.byteLength(s, 'latin1'));
    this.#room(s.length);
    this.#pos += this.#out.write(s, this.#pos, 'latin1');
  }
}
