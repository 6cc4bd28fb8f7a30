// The read/write stand-ins for the raw syscalls, used when the binding is unavailable. Each keeps its
// syscall's meaning: bytes moved in one call (possibly fewer than asked), the same offset rules (an explicit
// offset leaves the fd's position alone), and errors named after the emulated syscall.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { asSyscallError, systemError, unsupported } from './errors';

type Offset = number | bigint | null;

// One fallback call moves at most this much: a short count, as the real syscalls may also return.
const CHUNK = 1 << 20;
// Linux's default pipe capacity; without F_SETPIPE_SZ the fallback can neither change nor query it.
const DEFAULT_PIPE_SIZE = 65536;
let scratch: Buffer | undefined;

function chunkBuffer(): Buffer {
  scratch ??= Buffer.allocUnsafeSlow(CHUNK);
  return scratch;
}

// Bytes read from a consuming input (a pipe, a socket, a file position) that the destination did not take
// yet. The real syscalls leave such bytes in the pipe; the fallback keeps them here, keyed by the input fd
// (and its inode, so a closed and reused fd number never inherits them), and delivers them first next time.
interface Carry {
  data: Buffer;
  dev: number;
  ino: number;
}
const carried = new Map<number, Carry>();

function takeCarry(fdIn: number): Buffer | undefined {
  const carry = carried.get(fdIn);
  if (!carry) return undefined;
  carried.delete(fdIn);
  try {
    const st = fs.fstatSync(fdIn);
    return st.dev === carry.dev && st.ino === carry.ino ? carry.data : undefined;
  } catch {
    return undefined;
  }
}

function keepCarry(fdIn: number, data: Buffer): void {
  const st = fs.fstatSync(fdIn);
  carried.set(fdIn, { data: Buffer.from(data), dev: st.dev, ino: st.ino });
}

/**
 * Reads up to `length` bytes from fdIn and writes them to fdOut, returning the bytes written. With an
 * explicit input offset nothing is consumed, so a short write is simply a short count. Otherwise what the
 * destination did not take is carried to the next call on the same input.
 */
function readThenWrite(fdIn: number, offIn: Offset, fdOut: number, offOut: Offset, length: number,
  syscall: string): number {
  // fs.writeSync takes only number positions (it silently ignores a bigint): beyond 2^53 is out of reach.
  if (typeof offOut === 'bigint') throw unsupported('a write offset beyond 2^53', 'fs.writeSync cannot address it');
  const consuming = offIn === null;
  let data = consuming ? takeCarry(fdIn) : undefined;
  if (data && data.length > length) {
    keepCarry(fdIn, data.subarray(length));
    data = data.subarray(0, length);
  }
  if (!data) {
    const buf = chunkBuffer();
    try {
      // Into a pipe, at most its default capacity: a larger write would block until someone reads.
      const cap = fs.fstatSync(fdOut).isFIFO() ? DEFAULT_PIPE_SIZE : CHUNK;
      data = buf.subarray(0, fs.readSync(fdIn, buf, 0, Math.min(length, cap), offIn));
    } catch (err) {
      throw asSyscallError(err, syscall);
    }
  }
  let written = 0;
  try {
    while (written < data.length) {
      written += fs.writeSync(fdOut, data, written, data.length - written,
        offOut === null ? null : offOut + written);
    }
  } catch (err) {
    if (consuming) keepCarry(fdIn, data.subarray(written));
    if (written > 0) return written;
    throw asSyscallError(err, syscall);
  }
  return written;
}

// The kernel refuses what a syscall cannot do before it moves a byte; the fallback refuses the same, with the
// same errno, so that code written against the fallback does not break when the binding appears.
function kinds(fds: number[], syscall: string): fs.Stats[] {
  try {
    return fds.map((fd) => fs.fstatSync(fd));
  } catch (err) {
    throw asSyscallError(err, syscall);
  }
}

function refuse(errno: 'EINVAL' | 'EISDIR', syscall: string): never {
  throw systemError(-os.constants.errno[errno], syscall);
}

export function sendfile(outFd: number, inFd: number, offset: Offset, length: number): number {
  // sendfile reads only what can be mapped: a regular file or a block device, not a directory or a socket.
  const [input] = kinds([inFd], 'sendfile');
  if (!input.isFile() && !input.isBlockDevice()) refuse('EINVAL', 'sendfile');
  return readThenWrite(inFd, offset, outFd, null, length, 'sendfile');
}

export function splice(fdIn: number, fdOut: number, length: number, offsetIn: Offset, offsetOut: Offset): number {
  const stats = kinds([fdIn, fdOut], 'splice');
  if (!stats.some((s) => s.isFIFO()) || stats.some((s) => s.isDirectory())) refuse('EINVAL', 'splice');
  return readThenWrite(fdIn, offsetIn, fdOut, offsetOut, length, 'splice');
}

export function copyFileRange(fdIn: number, fdOut: number, length: number, offsetIn: Offset,
  offsetOut: Offset): number {
  const stats = kinds([fdIn, fdOut], 'copy_file_range');
  if (stats.some((s) => s.isDirectory())) refuse('EISDIR', 'copy_file_range');
  if (!stats.every((s) => s.isFile())) refuse('EINVAL', 'copy_file_range');
  return readThenWrite(fdIn, offsetIn, fdOut, offsetOut, length, 'copy_file_range');
}

export function vmsplice(pipeWriteFd: number, data: ArrayBufferView[]): number {
  const views = data.filter((v) => v.byteLength > 0);
  try {
    // vmsplice(2) takes only a pipe's write end: EBADF for anything else, as the kernel says.
    if (!fs.fstatSync(pipeWriteFd).isFIFO()) throw systemError(-os.constants.errno.EBADF, 'vmsplice');
    if (views.length === 0) return 0;
    return fs.writevSync(pipeWriteFd, views as NodeJS.ArrayBufferView[]);
  } catch (err) {
    throw asSyscallError(err, 'vmsplice');
  }
}

export function tee(): never {
  throw unsupported('tee', 'duplicating pipe contents needs the native binding');
}

/** A real pipe without the pipe(2) binding: a FIFO, opened at both ends and unlinked at once. */
export function createPipe(nonBlock: boolean): { readFd: number; writeFd: number; size: number } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zerocopy-pipe-'));
  const fifo = path.join(dir, 'fifo');
  const { O_RDONLY, O_WRONLY, O_NONBLOCK } = fs.constants;
  try {
    execFileSync('mkfifo', ['-m', '600', fifo], { stdio: 'ignore' });
    // Opening the read end non-blocking first lets the write end open without waiting for a reader.
    const probe = fs.openSync(fifo, O_RDONLY | O_NONBLOCK);
    let writeFd = -1;
    try {
      writeFd = fs.openSync(fifo, O_WRONLY | (nonBlock ? O_NONBLOCK : 0));
      const readFd = nonBlock ? probe : fs.openSync(fifo, O_RDONLY);
      if (readFd !== probe) fs.closeSync(probe);
      return { readFd, writeFd, size: DEFAULT_PIPE_SIZE };
    } catch (err) {
      if (writeFd >= 0) fs.closeSync(writeFd);
      fs.closeSync(probe);
      throw err;
    }
  } catch (err) {
    throw asSyscallError(err, 'pipe');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
