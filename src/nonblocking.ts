// Reads and writes from JS on fds that may answer EAGAIN: our own non-blocking descriptions (a caller's FIFO
// reopened by ownFd, a FIFO path opened O_NONBLOCK) and a caller's non-blocking fd. JS has no readiness event for
// them, so EAGAIN is retried after a short wait (1 ms, doubling to 32 ms); an abort ends the wait at once.
import * as fs from 'node:fs';
import { promisify } from 'node:util';
import { abortError } from './errors';

const readAsync = promisify(fs.read);
const writeAsync = promisify(fs.write);
const MAX_WAIT_MS = 32;

async function untilReady<T>(call: () => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  for (let wait = 1; ; wait = Math.min(wait * 2, MAX_WAIT_MS)) {
    if (signal?.aborted) throw abortError(0, signal);
    try {
      return await call();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
    }
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
  return untilReady(() => readAsync(fd, buffer, offset, length, position), signal);
}

/** fs.write as a promise that waits out EAGAIN. */
export function writeWaiting(fd: number, buffer: Uint8Array, offset: number, length: number, position: number | null,
  signal?: AbortSignal): Promise<{ bytesWritten: number }> {
  return untilReady(() => writeAsync(fd, buffer, offset, length, position), signal);
}
