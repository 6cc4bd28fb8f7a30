// Our own references to a caller's fds, taken synchronously when a call is made: a caller may close or reuse
// its fd number right after the call returns, and that must never redirect or disturb the transfer.
import * as fs from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { binding } from './binding';

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
  try {
    if (forReading && fs.fstatSync(fd).isFile()) {
      const copy = fs.openSync(`/proc/self/fd/${fd}`, 'r');
      return { fd: copy, close: () => fs.closeSync(copy) };
    }
  } catch {
    // no /proc: use the caller's fd
  }
  return { fd, close() {} };
}

/** A fs.promises FileHandle (or anything shaped like one). */
export function isFileHandle(value: unknown): value is FileHandle {
  return typeof value === 'object' && value !== null && typeof (value as FileHandle).fd === 'number' &&
    typeof (value as FileHandle).close === 'function';
}
