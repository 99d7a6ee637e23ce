/**
 * The resource names of a state-of-the-world DiscoveryRequest, decoded once per distinct list.
 * After a push every sidecar ACKs with its whole EDS list again (about 2,000 names at 1,000
 * services); decoding those strings was a millisecond per ACK. Proxies of one shape send the
 * same bytes, so the list's bytes are looked up (a memcmp on a hit) and the decoded array is
 * shared: the SotW handler then sees an unchanged subscription as the same array (./sotw.ts).
 * Arrays handed out are frozen; nobody may change them.
 */

/** DiscoveryRequest.resource_names (repeated string, field 3). */
const RESOURCE_NAMES_FIELD = 3;
/** Its tag byte: field 3, wire type 2 (length-delimited). */
const NAME_TAG = (RESOURCE_NAMES_FIELD << 3) | 2;
/** Below this, decoding is cheaper than the lookup. */
const MIN_BYTES = 1024;
/** Distinct lists kept (most recently used); a few per proxy shape and type. */
const MAX_LISTS = 64;

interface Entry {
  raw: Buffer;
  names: readonly string[];
}

const lists = new Map<string, Entry>();

/** The request without its resource names, and the names (shared, frozen). */
export interface SplitRequest {
  rest: Buffer;
  names: readonly string[];
}

/**
 * Splits `bytes` (an encoded DiscoveryRequest) into the names and the other fields, or
 * undefined when that is not worth it or not simple (few names, names not in one run,
 * anything the scan does not understand): the caller decodes the whole message then.
 */
export function splitResourceNames(bytes: Buffer): SplitRequest | undefined {
  let start = -1;
  let end = -1;
  let pos = 0;
  let known: Entry | undefined;
  while (pos < bytes.length) {
    if (bytes[pos] === NAME_TAG && (start < 0 || pos === end)) {
      if (start < 0) {
        start = pos;
        // Most ACKs repeat a list seen just before: one memcmp finds its end.
        known = recentAt(bytes, pos);
        if (known) {
          pos = end = pos + known.raw.length;
          continue;
        }
      }
      // The run of names, thousands of entries: a tight loop over one-byte tags and lengths.
      pos = skipNames(bytes, pos);
      if (pos < 0) return undefined;
      end = pos;
      continue;
    }
    const fieldStart = pos;
    const tag = readVarint(bytes, pos);
    if (tag < 0) return undefined;
    pos = varintEnd;
    const field = tag >>> 3;
    switch (tag & 7) {
      case 0:
        if (readVarint(bytes, pos) < 0) return undefined;
        pos = varintEnd;
        break;
      case 1:
        pos += 8;
        break;
      case 2: {
        const len = readVarint(bytes, pos);
        if (len < 0) return undefined;
        pos = varintEnd + len;
        if (field === RESOURCE_NAMES_FIELD) {
          // One contiguous run, as every encoder writes a repeated field.
          if (start < 0) start = fieldStart;
          else if (end !== fieldStart) return undefined;
          end = pos;
        }
        break;
      }
      case 5:
        pos += 4;
        break;
      default:
        return undefined;
    }
    if (pos > bytes.length) return undefined;
  }
  if (start < 0 || end - start < MIN_BYTES) return undefined;
  const region = bytes.subarray(start, end);
  const rest = Buffer.concat([bytes.subarray(0, start), bytes.subarray(end)]);
  if (known) {
    use(known);
    return { rest, names: known.names };
  }
  const key = `${region.length}:${region.toString('latin1', region.length - 32)}`;
  const hit = lists.get(key);
  if (hit && hit.raw.equals(region)) {
    lists.delete(key);
    lists.set(key, hit);
    use(hit);
    return { rest, names: hit.names };
  }
  const names = decodeNames(region);
  if (!names) return undefined;
  if (!hit && lists.size >= MAX_LISTS) lists.delete(lists.keys().next().value!);
  lists.delete(key);
  const entry = { raw: Buffer.from(region), names };
  lists.set(key, entry);
  use(entry);
  return { rest, names };
}

/** The lists used last, newest first: proxies of a few shapes take turns ACKing. */
const recent: Entry[] = [];
const MAX_RECENT = 8;

function use(e: Entry): void {
  const i = recent.indexOf(e);
  if (i === 0) return;
  if (i > 0) recent.splice(i, 1);
  else if (recent.length >= MAX_RECENT) recent.pop();
  recent.unshift(e);
}

/** A recent list whose bytes start at `pos` and are the whole run of names there. */
function recentAt(bytes: Buffer, pos: number): Entry | undefined {
  for (const e of recent) {
    const end = pos + e.raw.length;
    if (end > bytes.length || bytes[end] === NAME_TAG) continue;
    if (bytes.compare(e.raw, 0, e.raw.length, pos, end) === 0) return e;
  }
  return undefined;
}

/** The end of the run of name entries starting at `pos`, or -1 when one runs past the end. */
function skipNames(b: Buffer, pos: number): number {
  // Bounds checked by hand: a read past the end would make every load of this loop a slow one.
  const n = b.length;
  while (pos + 1 < n && b[pos] === NAME_TAG) {
    const len = b[pos + 1]!;
    if (len < 0x80) pos += 2 + len;
    else {
      const l = readVarint(b, pos + 1);
      if (l < 0) return -1;
      pos = varintEnd + l;
    }
  }
  if (pos + 1 === n && b[pos] === NAME_TAG) return -1; // a tag with no length
  return pos > n ? -1 : pos;
}

/** The strings of a run of field-3 entries (tag, length, UTF-8 bytes). */
function decodeNames(region: Buffer): readonly string[] | undefined {
  const names: string[] = [];
  let pos = 0;
  while (pos < region.length) {
    if (readVarint(region, pos) < 0) return undefined;
    const len = readVarint(region, varintEnd);
    if (len < 0) return undefined;
    const end = varintEnd + len;
    if (end > region.length) return undefined;
    names.push(region.toString('utf8', varintEnd, end));
    pos = end;
  }
  return Object.freeze(names);
}

/** Where the last readVarint stopped (no object per varint: an ACK has thousands). */
let varintEnd = 0;

/** A varint of up to 32 bits (tags and lengths), its end in varintEnd; -1 past the end or when longer. */
function readVarint(b: Buffer, pos: number): number {
  let value = 0;
  for (let shift = 0; shift < 35; shift += 7) {
    if (pos >= b.length) return -1;
    const byte = b[pos++]!;
    value += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) {
      varintEnd = pos;
      return value <= 0xffffffff ? value : -1;
    }
  }
  return -1;
}
