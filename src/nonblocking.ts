// Reads and writes from JS on fds that may answer EAGAIN: our own non-blocking descriptions (a caller's FIFO
// reopened by ownFd, a FIFO path opened O_NONBLOCK) and a caller's non-blocking fd. JS has no readiness event for
// them, so EAGAIN is retried after a short wait (1 ms, doubling to 32 ms); an abort ends the wait at once.
// A caller's description that blocks and cannot be reopened (a socket, a character device, an eventfd) would
// park a threadpool thread in the kernel, where no abort reaches it and where it holds up process exit: natively
// such an fd is polled first and waited for like EAGAIN, and a write asks for at most PIPE_BUF bytes, which a
// pipe or socket that polled writable takes at once. Without the binding there is no poll: such a call may wait
// in the threadpool.
import * as fs from 'node:fs';
import { promisify } from 'node:util';
import { kernel } from './seam';
import { abortError, unsupported } from './errors';

const readAsync = promisify(fs.read);
const writeAsync = promisify(fs.write);
const MAX_WAIT_MS = 32;

const GATED_WRITE = 4096; // PIPE_BUF
const EAGAIN: unique symbol = Symbol('EAGAIN');

async function untilReady<T>(fd: number, forWrite: boolean, call: (gated: boolean) => Promise<T>,
  signal: AbortSignal | undefined): Promise<T> {
  const gated = kernel.mayBlock(fd);
  for (let wait = 1; ; wait = Math.min(wait * 2, MAX_WAIT_MS)) {
    if (signal?.aborted) throw abortError(0, signal);
    const result: T | typeof EAGAIN = gated && !kernel.ready(fd, forWrite) ? EAGAIN : await call(gated).catch((err) => {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      return EAGAIN;
    });
    if (result !== EAGAIN) return result;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, wait);
      signal?.addEventListener('abort', done, { once: true });
    });
  }
}

/** fs.read as a promise that waits out EAGAIN. An abort rejects with AbortError (`bytes` 0: the caller's count). */
export function readWaiting(fd: number, buffer: Buffer, offset: number, length: number, position: number | null,
  signal?: AbortSignal): Promise<{ bytesRead: number }> {
  return untilReady(fd, false, () => readAsync(fd, buffer, offset, length, position), signal);
}

/** A write position: a number, a bigint (offsets past 2^53), or null for the fd's own position. */
export type Position = number | bigint | null;

/** `base + n`, exact: a bigint stays a bigint. */
export function advance(base: Position, n: number): Position {
  if (base === null) return null;
  return typeof base === 'bigint' ? base + BigInt(n) : base + n;
}

/**
 * fs.write takes only exact numbers (it writes a bigint position at the fd's position, and a number past 2^53
 * is rounded): a position it cannot address is refused rather than written somewhere else.
 */
function exactPosition(position: Position): number | null {
  if (position !== null && position > Number.MAX_SAFE_INTEGER) {
    throw unsupported('a write offset beyond 2^53', 'fs.write cannot address it');
  }
  return position === null ? null : Number(position);
}

/** fs.write as a promise that waits out EAGAIN. */
export function writeWaiting(fd: number, buffer: Uint8Array, offset: number, length: number, position: Position,
  signal?: AbortSignal): Promise<{ bytesWritten: number }> {
  const at = exactPosition(position);
  return untilReady(fd, true,
    (gated) => writeAsync(fd, buffer, offset, gated ? Math.min(length, GATED_WRITE) : length, at), signal);
}
