// copyFileRange: file -> file on the engine with copy_file_range(2); where the kernel refuses it (EXDEV, ENOSYS,
// EINVAL, EOPNOTSUPP) the engine falls back to sendfile, then to pread/pwrite, and remembers a missing syscall.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { promisify } from 'node:util';
import type { FileHandle } from 'node:fs/promises';
import {
  invalidArgType,
  outOfRange,
  systemError,
  validateFd,
  validateLength,
  validateOffset,
  validateOptions,
  validateSignal,
} from './errors';
import { type OwnedFd, fdInfo, handleFd, isFileHandle, mayRead, mayWrite, openPath, ownFd } from './fds';
import { kernel } from './seam';
import { type FileInput, type Source, openSource } from './sendfile';
import { countFallback, tracked } from './stats';

export interface CopyFileRangeOptions {
  /** Where to start reading the source. Default 0. */
  offsetIn?: number | bigint;
  /** Where to write in the destination. Default: its start for a path, the fd's position for an fd. */
  offsetOut?: number | bigint;
  /** Bytes to copy. Default: to the end of the source. */
  length?: number;
  signal?: AbortSignal;
}

const ftruncateAsync = promisify(fs.ftruncate);

/** An fd or FileHandle destination is duplicated at once; a path is opened later by `openOutput`. */
function claimOutput(dst: unknown): OwnedFd | string {
  if (typeof dst === 'string') return dst;
  if (typeof dst === 'number') return ownFd(validateFd(dst, 'dst'), false);
  if (isFileHandle(dst)) return ownFd(handleFd(dst, 'dup'), false);
  throw invalidArgType('dst', 'of type string or number or an instance of FileHandle', dst);
}

/** A path is opened without O_TRUNC: it may be the source itself, and it is cut only after the copy succeeded. */
async function openOutput(dst: OwnedFd | string): Promise<OwnedFd & { opened: boolean }> {
  if (typeof dst !== 'string') return { ...dst, opened: false };
  const fd = await openPath(dst, fs.constants.O_WRONLY | fs.constants.O_CREAT, 0o666);
  return { fd, close: () => fs.closeSync(fd), opened: true };
}

/**
 * A directory fd is EISDIR, as copy_file_range says before anything else (read/write would say EBADF). One file
 * on both sides, however it was named (a symlink, a hard link, a second fd: st_dev + st_ino tell):
 * overlapping ranges are refused before a byte moves, in copy_file_range's order (EBADF for an fd it could not
 * use, then EINVAL), since no fallback may take them over (read/write would read back what it had just written).
 * Returns whether the output is a regular file other than the source: only such a file may be cut to the copy.
 */
function checkOutput(source: Source, output: OwnedFd & { opened: boolean }, offsetIn: number,
  outOffset: number | bigint | null, count: number): boolean {
  const inStat = fs.fstatSync(source.fd);
  const outStat = fs.fstatSync(output.fd);
  if (outStat.isDirectory()) throw systemError(-os.constants.errno.EISDIR, 'copy_file_range');
  if (inStat.dev !== outStat.dev || inStat.ino !== outStat.ino) return outStat.isFile();
  const info = output.opened ? undefined : fdInfo(output.fd);
  if (!mayWrite(info) || !mayRead(fdInfo(source.fd))) throw systemError(-os.constants.errno.EBADF, 'copy_file_range');
  // An fd's position comes from /proc; where it cannot be known, the ranges are taken to overlap.
  const at = outOffset ?? info?.pos;
  if (at === undefined || (Number(at) + count > offsetIn && Number(at) < offsetIn + count)) {
    throw systemError(-os.constants.errno.EINVAL, 'copy_file_range', source.path);
  }
  return false;
}

/** Copies a range of one file into another inside the kernel. Resolves with the bytes copied. */
export function copyFileRange(src: FileInput, dst: string | number | FileHandle,
  options?: CopyFileRangeOptions): Promise<number> {
  let source: Source | undefined;
  let output: OwnedFd | string;
  let opts: Partial<CopyFileRangeOptions>;
  let offsetIn: number;
  let offsetOut: number | bigint | null;
  let length: number | undefined;
  try {
    opts = validateOptions<CopyFileRangeOptions>(options);
    offsetIn = Number(validateOffset(opts.offsetIn, 'options.offsetIn') ?? 0);
    offsetOut = validateOffset(opts.offsetOut, 'options.offsetOut');
    length = opts.length === undefined ? undefined : validateLength(opts.length, 'options.length');
    validateSignal(opts.signal);
    source = openSource(src, 'src');
    output = claimOutput(dst);
  } catch (err) {
    source?.close();
    return Promise.reject(err);
  }
  return copyOpened(source, output, offsetIn, offsetOut, length, opts.signal);
}

async function copyOpened(source: Source, dst: OwnedFd | string, offsetIn: number, offsetOut: number | bigint | null,
  length: number | undefined, signal: AbortSignal | undefined): Promise<number> {
  let output: (OwnedFd & { opened: boolean }) | undefined;
  try {
    // What copy_file_range answers for anything but a regular file.
    if (source.size < 0) throw systemError(-22 /* EINVAL */, 'copy_file_range', source.path);
    const size = source.size;
    if (offsetIn > size) throw outOfRange('options.offsetIn', `<= ${size} (the source's size)`, offsetIn);
    const count = length ?? size - offsetIn;
    if (offsetIn + count > size) throw outOfRange('options.length', `<= ${size - offsetIn}`, length);
    output = await openOutput(dst);
    const outFd = output.fd;
    // A path is written from its start, unless it names a FIFO (which has no offsets).
    const outOffset = offsetOut ?? (output.opened && fs.fstatSync(outFd).isFile() ? 0 : null);
    const otherFile = checkOutput(source, output, offsetIn, outOffset, count);
    const copied = await tracked(() => kernel.copyFile({
      outFd, inFd: source.fd, offset: offsetIn, outOffset, length: count, signal, path: source.path,
    }));
    if (copied.fallbackReason) countFallback(copied.fallbackReason);
    // A path given without offsetOut ends up holding exactly the copy (never the source itself: a copy within
    // one file leaves the rest of it as it was).
    if (output.opened && offsetOut === null && otherFile) await ftruncateAsync(outFd, copied.bytes);
    return copied.bytes;
  } finally {
    source.close();
    if (output) output.close();
    else if (typeof dst !== 'string') dst.close();
  }
}
