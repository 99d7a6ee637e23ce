/**
 * xxHash64, the hash Envoy's RING_HASH and MAGLEV (and its route hash policies) use, from the
 * maintained xxhash-wasm package. Loaded once at import (top-level await) so hashing on the
 * request path is synchronous. Strings are hashed as their UTF-8 bytes, as Envoy hashes a
 * string_view.
 */
import xxhash from 'xxhash-wasm';

const api = await xxhash();

/** xxHash64 of the UTF-8 bytes of `s` (Envoy's HashUtil::xxHash64, seed 0 by default). */
export function xxHash64(s: string, seed = 0n): bigint {
  return api.h64(s, seed);
}

/** xxHash64 of raw bytes. */
export function xxHash64Bytes(bytes: Uint8Array, seed = 0n): bigint {
  return api.h64Raw(bytes, seed);
}

const U64 = (1n << 64n) - 1n;

/** The 8 little-endian bytes of a u64 (how Envoy hashes a uint64_t's memory on x86). */
export function u64Bytes(v: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, v & U64, true);
  return b;
}

/** 64-bit rotate left by 1: how Envoy folds the hashes of several hash policies into one. */
export function rotl1(h: bigint): bigint {
  return ((h << 1n) | (h >> 63n)) & U64;
}
