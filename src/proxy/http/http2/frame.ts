/** HTTP/2 frame types, flags, error codes and settings (RFC 9113 6, 7), and the frame writer. */

export const FrameType = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;

export const Flag = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;

export const ErrorCode = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  ENHANCE_YOUR_CALM: 0xb,
} as const;

export const Setting = { HEADER_TABLE_SIZE: 1, ENABLE_PUSH: 2, MAX_CONCURRENT_STREAMS: 3, INITIAL_WINDOW_SIZE: 4, MAX_FRAME_SIZE: 5, MAX_HEADER_LIST_SIZE: 6 } as const;

export const FRAME_HEADER = 9;
export const DEFAULT_WINDOW = 65535;
export const MAX_WINDOW = 2 ** 31 - 1;
/** SETTINGS_MAX_FRAME_SIZE's default and floor: we never advertise more. */
export const MIN_MAX_FRAME = 16384;
export const MAX_MAX_FRAME = 2 ** 24 - 1;
export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

/** One frame, header and payload in one buffer (`payload` copied from [start, end)). */
export function frame(type: number, flags: number, stream: number, payload?: Uint8Array, start = 0, end = payload ? payload.length : 0): Buffer {
  const len = end - start;
  const b = Buffer.allocUnsafe(FRAME_HEADER + len);
  b[0] = len >>> 16;
  b[1] = (len >>> 8) & 0xff;
  b[2] = len & 0xff;
  b[3] = type;
  b[4] = flags;
  b.writeUInt32BE(stream, 5);
  if (len) b.set(payload!.subarray(start, end), FRAME_HEADER);
  return b;
}

/** A frame whose payload is one 32-bit value (RST_STREAM, WINDOW_UPDATE). */
export function frameU32(type: number, stream: number, value: number): Buffer {
  const b = Buffer.allocUnsafe(FRAME_HEADER + 4);
  b[0] = 0;
  b[1] = 0;
  b[2] = 4;
  b[3] = type;
  b[4] = 0;
  b.writeUInt32BE(stream, 5);
  b.writeUInt32BE(value, FRAME_HEADER);
  return b;
}

export function settingsFrame(values: [number, number][]): Buffer {
  const p = Buffer.allocUnsafe(6 * values.length);
  values.forEach(([k, v], i) => {
    p.writeUInt16BE(k, 6 * i);
    p.writeUInt32BE(v, 6 * i + 2);
  });
  return frame(FrameType.SETTINGS, 0, 0, p);
}

export function goawayFrame(lastStream: number, code: number): Buffer {
  const p = Buffer.allocUnsafe(8);
  p.writeUInt32BE(lastStream, 0);
  p.writeUInt32BE(code, 4);
  return frame(FrameType.GOAWAY, 0, 0, p);
}
