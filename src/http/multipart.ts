// multipart/byteranges framing (RFC 9110 §14.6): the part headers, and the exact Content-Length they make
// with the part bodies, so the response needs no chunked encoding.
import { randomBytes } from 'node:crypto';
import type { ByteRange } from './ranges';

export interface Multipart {
  contentType: string;
  /** Before each part's body, in order. */
  heads: Buffer[];
  tail: Buffer;
  length: number;
}

export function multipart(ranges: ByteRange[], type: string, size: number): Multipart {
  const boundary = randomBytes(12).toString('hex');
  const heads = ranges.map((r, i) => Buffer.from(
    `${i === 0 ? '' : '\r\n'}--${boundary}\r\nContent-Type: ${type}\r\nContent-Range: bytes ${r.start}-${r.end}/${size}\r\n\r\n`,
    'latin1'));
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`, 'latin1');
  const bodies = ranges.reduce((sum, r) => sum + r.end - r.start + 1, 0);
  const length = heads.reduce((sum, h) => sum + h.length, 0) + tail.length + bodies;
  return { contentType: `multipart/byteranges; boundary=${boundary}`, heads, tail, length };
}
