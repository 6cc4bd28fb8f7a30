// Our own references to a caller's fds, taken synchronously when a call is made: a caller may close or reuse
// its fd number right after the call returns, and that must never redirect or disturb the transfer.
import * as fs from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import * as os from 'node:os';
import { promisify } from 'node:util';
import { binding } from './binding';
import { systemError } from './errors';

export interface OwnedFd {
  fd: number;
  close(): void;
}

/**
 * A duplicate of `fd` that we own. A blocking FIFO is reopened non-blocking (see reopenFifo). Without the
 * binding, a regular file to read is reopened through Linux's /proc/self/fd (a new file description: fine,
 * transfers pass explicit offsets); otherwise the caller's fd is used as it is.
 */
export function ownFd(fd: number, forReading: boolean): OwnedFd {
  const fifo = reopenFifo(fd);
  if (fifo) return fifo;
  if (binding) {
    const copy = binding.dup(fd);
    return { fd: copy, close: () => fs.closeSync(copy) };
  }
  // Reopening must not grant what the caller's fd lacks: a write-only fd stays unreadable (EBADF).
  if (fs.fstatSync(fd).isFile() && forReading) { // fstat: EBADF now for an fd that is not open
    requireReadable(fd, () => systemError(-os.constants.errno.EBADF, 'read'));
    try {
      const copy = fs.openSync(`/proc/self/fd/${fd}`, 'r');
      return { fd: copy, close: () => fs.closeSync(copy) };
    } catch {
      // no /proc: use the caller's fd
    }
  }
  return { fd, close() {} };
}

/**
 * Throws `refusal()` for an fd not open for writing: a zero-length write answers EBADF there, and writes
 * nothing elsewhere (so write(2)'s refusal comes now, not when the first bytes arrive).
 */
export function requireWritable(fd: number, refusal = () => systemError(-os.constants.errno.EBADF, 'write')): void {
  try {
    fs.writeSync(fd, EMPTY, 0, 0, null);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EBADF') throw refusal();
    throw err;
  }
}

/** The same for reading a regular file: a one-byte pread at 0 (Node skips zero-length reads; pread moves no
 * position). */
export function requireReadable(fd: number, refusal: () => Error): void {
  try {
    fs.readSync(fd, Buffer.alloc(1), 0, 1, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EBADF') throw refusal();
    throw err;
  }
}

const EMPTY = Buffer.alloc(0);
const ACCESS_MODE = 3; // O_ACCMODE

/**
 * A caller's blocking FIFO (a pipe), reopened through /proc/self/fd as an open file description of our own with
 * the same access mode and O_NONBLOCK: no read or write of ours can then wait on it (and an abort can stop us),
 * while the caller's fd keeps its flags (a dup would share them, so setting O_NONBLOCK on one changes the
 * caller's). Undefined for anything else, for a FIFO already non-blocking, or where /proc cannot reopen it (a
 * write end whose reader has gone answers ENXIO: writes to it fail at once with EPIPE anyway).
 */
function reopenFifo(fd: number): OwnedFd | undefined {
  let flags: number;
  try {
    if (!fs.fstatSync(fd).isFIFO()) return undefined;
    const info = /^flags:\s*([0-7]+)$/m.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'latin1'));
    if (!info) return undefined;
    flags = parseInt(info[1], 8);
    if (flags & fs.constants.O_NONBLOCK) return undefined;
    const copy = fs.openSync(`/proc/self/fd/${fd}`, (flags & ACCESS_MODE) | fs.constants.O_NONBLOCK);
    return { fd: copy, close: () => fs.closeSync(copy) };
  } catch {
    return undefined; // not open (the caller of ownFd reports EBADF), or no /proc
  }
}

/**
 * Opens a path without ever waiting for the other end of a FIFO: with O_NONBLOCK, a FIFO's read end opens at once
 * and a write end fails with ENXIO while nobody reads. The description stays non-blocking (for a regular file that
 * changes nothing). Only a lease being broken answers O_NONBLOCK with EAGAIN: that open then waits for the break,
 * as it would without the flag.
 */
export function openPathSync(path: string, flags: number, mode?: number): number {
  try {
    return fs.openSync(path, flags | fs.constants.O_NONBLOCK, mode);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
    return fs.openSync(path, flags, mode);
  }
}

const openAsync = promisify(fs.open);

/** openPathSync on the threadpool. */
export async function openPath(path: string, flags: number, mode?: number): Promise<number> {
  try {
    return await openAsync(path, flags | fs.constants.O_NONBLOCK, mode);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
    return openAsync(path, flags, mode);
  }
}

/** A fs.promises FileHandle (or anything shaped like one). */
export function isFileHandle(value: unknown): value is FileHandle {
  return typeof value === 'object' && value !== null && typeof (value as FileHandle).fd === 'number' &&
    typeof (value as FileHandle).close === 'function';
}
