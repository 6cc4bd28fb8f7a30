// Our own references to a caller's fds, taken synchronously when a call is made: a caller may close or reuse
// its fd number right after the call returns, and that must never redirect or disturb the transfer.
import * as fs from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import * as os from 'node:os';
import { binding } from './binding';
import { systemError } from './errors';

export interface OwnedFd {
  fd: number;
  close(): void;
}

/**
 * A duplicate of `fd` that we own. Without the binding, a regular file to read is reopened through Linux's
 * /proc/self/fd (a new file description: fine, transfers pass explicit offsets); otherwise the caller's fd is
 * used as it is.
 */
export function ownFd(fd: number, forReading: boolean): OwnedFd {
  if (binding) {
    const copy = binding.dup(fd);
    return { fd: copy, close: () => fs.closeSync(copy) };
  }
  const regular = fs.fstatSync(fd).isFile(); // EBADF now for an fd that is not open
  let writeOnly = false;
  try {
    if (forReading && regular) {
      // Reopening must not grant what the caller's fd lacks: a write-only fd stays unreadable (EBADF).
      writeOnly = accessMode(fd) === fs.constants.O_WRONLY;
      if (!writeOnly) {
        const copy = fs.openSync(`/proc/self/fd/${fd}`, 'r');
        return { fd: copy, close: () => fs.closeSync(copy) };
      }
    }
  } catch {
    // no /proc: use the caller's fd
  }
  if (writeOnly) throw systemError(-os.constants.errno.EBADF, 'read');
  return { fd, close() {} };
}

/** O_RDONLY, O_WRONLY or O_RDWR, from /proc/self/fdinfo (Linux); undefined where that is not there. */
function accessMode(fd: number): number | undefined {
  let info: string;
  try {
    info = fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'latin1');
  } catch {
    return undefined;
  }
  const flags = /^flags:\s*([0-7]+)/m.exec(info)?.[1];
  return flags === undefined ? undefined : parseInt(flags, 8) & 3;
}

/** EBADF now, as write(2) would give it later, for an fd that is open read-only. */
export function requireWritable(fd: number): void {
  if (accessMode(fd) === fs.constants.O_RDONLY) throw systemError(-os.constants.errno.EBADF, 'write');
}

/** A fs.promises FileHandle (or anything shaped like one). */
export function isFileHandle(value: unknown): value is FileHandle {
  return typeof value === 'object' && value !== null && typeof (value as FileHandle).fd === 'number' &&
    typeof (value as FileHandle).close === 'function';
}
