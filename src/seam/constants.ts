// The constants both sides of the seam use, from one place: the addon's when it is loaded (defined once in C++),
// else the same values for the portable kernel.
import { binding } from '../binding';

export interface SeamConstants {
  /** The most the fast path moves on the JS thread in one call. */
  fastPathMax: number;
  /** Bytes per zero-copy call on the engine. */
  chunk: number;
  /** The read/write buffer of the 'copy' strategy. */
  copyChunk: number;
  /** Linux's default pipe capacity. */
  defaultPipeSize: number;
  /** The lease signal's offset from SIGRTMIN, unless configured. */
  leaseSignalOffset: number;
}

const PORTABLE: SeamConstants = {
  fastPathMax: 4 << 20,
  chunk: 4 << 20,
  copyChunk: 256 << 10,
  defaultPipeSize: 64 << 10,
  leaseSignalOffset: 4,
};

export const constants: SeamConstants = Object.freeze(
  (binding as { constants?: SeamConstants } | null)?.constants ?? PORTABLE);
