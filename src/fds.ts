// Our own references to a caller's fds, taken synchronously when a call is made: a caller may close or reuse
// its fd number right after the call returns, and that must never redirect or disturb the transfer.
import * as fs from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import * as os from 'node:os';
import * as tty from 'node:tty';
import { promisify } from 'node:util';
import { kernel } from './seam';
import { asSyscallError, systemError } from './errors';

const { O_RDONLY, O_WRONLY, O_RDWR, O_APPEND } = fs.constants;
const O_ACCMODE = O_RDONLY | O_WRONLY | O_RDWR;

export interface OwnedFd {
  fd: number;
  close(): void;
}

/**
 * The fd of a FileHandle. A closed one (its fd is -1) is EBADF, named after the call a closed fd number meets
 * first in the same export, as fs answers a closed FileHandle with EBADF and the call it refused.
 */
export function handleFd(handle: FileHandle, syscall: string): number {
  if (handle.fd < 0) throw systemError(-os.constants.errno.EBADF, syscall);
  return handle.fd;
}

/**
 * A duplicate of `fd` that we own. A blocking FIFO or terminal is reopened non-blocking (see reopenNonBlocking). Without the
 * binding, a regular file to read is reopened through Linux's /proc/self/fd (a new file description: fine,
 * transfers pass explicit offsets); otherwise the caller's fd is used as it is.
 */
export function ownFd(fd: number, forReading: boolean): OwnedFd {
  const reopened = reopenNonBlocking(fd);
  if (reopened) return reopened;
  const copy = kernel.dup(fd);
  if (copy !== undefined) return { fd: copy, close: () => fs.closeSync(copy) };
  // Reopening must not grant what the caller's fd lacks: a write-only fd stays unreadable (EBADF).
  let st: fs.Stats;
  try {
    st = fs.fstatSync(fd); // EBADF now for an fd that is not open, named as dup(2) names it
  } catch (err) {
    throw asSyscallError(err, 'dup');
  }
  if (st.isFile() && forReading) {
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

/**
 * A caller's blocking FIFO (a pipe) or terminal, reopened through /proc/self/fd as an open file description of our
 * own with the same access mode and O_NONBLOCK (and O_NOCTTY: a terminal never becomes our controlling one): no
 * read or write of ours can then wait on it (and an abort can stop us), while the caller's fd keeps its flags (a
 * dup would share them, so setting O_NONBLOCK on one changes the caller's). A terminal polls writable with less
 * room than a gated write asks for, so the engine's poll-first guard would block on one. Undefined for anything
 * else, for a description already non-blocking, or where /proc cannot reopen it (a write end whose reader has
 * gone answers ENXIO: writes to it fail at once with EPIPE anyway).
 */
export function reopenNonBlocking(fd: number): OwnedFd | undefined {
  try {
    if (!fs.fstatSync(fd).isFIFO() && !tty.isatty(fd)) return undefined;
    const info = fdInfo(fd);
    if (!info || info.flags & fs.constants.O_NONBLOCK) return undefined;
    const copy = fs.openSync(`/proc/self/fd/${fd}`, (info.flags & O_ACCMODE) | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY);
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

/** An fd's open flags and file position, which Node cannot ask for (no fcntl F_GETFL, no lseek). */
export interface FdInfo {
  flags: number;
  pos: number;
}

// pos and flags are the first two lines; one small read of them costs ~10 µs, readFileSync ~27.
const fdInfoBuffer = Buffer.alloc(256);

/** What Linux shows of an fd in /proc/self/fdinfo; undefined where there is no such file (not Linux). */
export function fdInfo(fd: number): FdInfo | undefined {
  let text: string;
  try {
    const info = fs.openSync(`/proc/self/fdinfo/${fd}`, 'r');
    try {
      text = fdInfoBuffer.toString('latin1', 0, fs.readSync(info, fdInfoBuffer, 0, fdInfoBuffer.length, 0));
    } finally {
      fs.closeSync(info);
    }
  } catch {
    return undefined;
  }
  const pos = /^pos:\s+(\d+)/m.exec(text);
  const flags = /^flags:\s+([0-7]+)/m.exec(text);
  return pos && flags ? { flags: parseInt(flags[1], 8), pos: Number(pos[1]) } : undefined;
}

// What an fd's flags allow. Unknown flags (no /proc) allow everything: the read or write itself answers then.
export const mayRead = (info?: FdInfo) => info === undefined || (info.flags & O_ACCMODE) !== O_WRONLY;
export const mayWrite = (info?: FdInfo) => info === undefined || (info.flags & O_ACCMODE) !== O_RDONLY;
export const appends = (info?: FdInfo) => info !== undefined && (info.flags & O_APPEND) !== 0;

/** A fs.promises FileHandle (or anything shaped like one). */
export function isFileHandle(value: unknown): value is FileHandle {
  return typeof value === 'object' && value !== null && typeof (value as FileHandle).fd === 'number' &&
    typeof (value as FileHandle).close === 'function';
}
