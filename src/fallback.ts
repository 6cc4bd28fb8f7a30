// The read/write stand-ins for the raw syscalls, used when the binding is unavailable. Each keeps its
// syscall's meaning: bytes moved in one call (possibly fewer than asked), the same offset rules (an explicit
// offset leaves the fd's position alone), and errors named after the emulated syscall.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { asSyscallError, systemError, unsupported } from './errors';
import { type FdInfo, type OwnedFd, appends, fdInfo, mayRead, mayWrite, reopenNonBlocking } from './fds';

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
  syscall: string, io: { readFd: number; writeFd: number } = { readFd: fdIn, writeFd: fdOut }): number {
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
      data = buf.subarray(0, fs.readSync(io.readFd, buf, 0, Math.min(length, cap), offIn));
    } catch (err) {
      throw asSyscallError(err, syscall);
    }
  }
  let written = 0;
  try {
    while (written < data.length) {
      written += fs.writeSync(io.writeFd, data, written, data.length - written,
        offOut === null ? null : offOut + written);
    }
  } catch (err) {
    if (consuming) keepCarry(fdIn, data.subarray(written));
    if (written > 0) return written;
    throw asSyscallError(err, syscall);
  }
  return written;
}

// The kernel refuses what a syscall cannot do before it moves a byte; the fallback refuses the same, in the
// kernel's order and with its errno, so that code written against the fallback does not break when the binding
// appears. test/agreement.test.ts runs every call on every kind of fd in both modes and compares.
interface Examined {
  stat: fs.Stats;
  /** Open flags and position; undefined without /proc, where the read or write itself answers instead. */
  info?: FdInfo;
}

function examine(fds: number[], syscall: string): Examined[] {
  try {
    return fds.map((fd) => ({ stat: fs.fstatSync(fd), info: fdInfo(fd) }));
  } catch (err) {
    throw asSyscallError(err, syscall);
  }
}

const samePipe = (a: Examined, b: Examined) => a.stat.dev === b.stat.dev && a.stat.ino === b.stat.ino;

/** Positioned I/O (FMODE_PREAD): not on pipes, sockets, or anonymous inodes (eventfd, epoll: no file type). */
function seekable(st: fs.Stats): boolean {
  return st.isFile() || st.isDirectory() || st.isCharacterDevice() || st.isBlockDevice();
}

// Character devices without a splice side, by their device number (drivers/char/mem.c): /dev/null cannot be
// spliced from, /dev/full cannot be spliced to.
let devices: { null?: number; full?: number } | undefined;
function isDevice(st: fs.Stats, name: 'null' | 'full'): boolean {
  if (!st.isCharacterDevice()) return false;
  devices ??= Object.fromEntries(['null', 'full'].map((n) => {
    try {
      return [n, fs.statSync(`/dev/${n}`).rdev];
    } catch {
      return [n, undefined];
    }
  }));
  return devices[name] === st.rdev;
}

/** What splice(2) can read from besides a pipe: files, block and most character devices, sockets. */
function spliceReads(st: fs.Stats): boolean {
  return st.isFile() || st.isBlockDevice() || st.isSocket() || (st.isCharacterDevice() && !isDevice(st, 'null'));
}

/** And write to. */
function spliceWrites(st: fs.Stats): boolean {
  return st.isFile() || st.isBlockDevice() || st.isSocket() || (st.isCharacterDevice() && !isDevice(st, 'full'));
}

function refuse(errno: 'EINVAL' | 'EISDIR' | 'EBADF' | 'ESPIPE', syscall: string): never {
  throw systemError(-os.constants.errno[errno], syscall);
}

export function sendfile(outFd: number, inFd: number, offset: Offset, length: number): number {
  const [input] = examine([inFd], 'sendfile');
  if (!mayRead(input.info)) refuse('EBADF', 'sendfile');
  if (offset !== null && !seekable(input.stat)) refuse('ESPIPE', 'sendfile');
  const [output] = examine([outFd], 'sendfile');
  if (!mayWrite(output.info)) refuse('EBADF', 'sendfile');
  // sendfile reads only what it can seek in and splice from; it writes at the file position, never appends.
  if (!seekable(input.stat) || !spliceReads(input.stat)) refuse('EINVAL', 'sendfile');
  if (!output.stat.isFIFO() && (appends(output.info) || !spliceWrites(output.stat))) refuse('EINVAL', 'sendfile');
  return readThenWrite(inFd, offset, outFd, null, length, 'sendfile');
}

/**
 * SPLICE_F_NONBLOCK (and vmsplice's): the pipe side must not wait even when the caller's description blocks. A
 * pipe is then read or written through a non-blocking description of our own, so it answers EAGAIN as the kernel
 * does, while the caller's fd keeps its flags. Returns what to close afterwards.
 */
function nonBlockingSide(fd: number, isPipe: boolean, nonBlock: boolean): OwnedFd | undefined {
  return nonBlock && isPipe ? reopenNonBlocking(fd) : undefined;
}

export function splice(fdIn: number, fdOut: number, length: number, offsetIn: Offset, offsetOut: Offset,
  nonBlock: boolean): number {
  const [input, output] = examine([fdIn, fdOut], 'splice');
  const inPipe = input.stat.isFIFO();
  const outPipe = output.stat.isFIFO();
  if ((inPipe && offsetIn !== null) || (outPipe && offsetOut !== null)) refuse('ESPIPE', 'splice');
  if (!mayRead(input.info) || !mayWrite(output.info)) refuse('EBADF', 'splice');
  if (inPipe && outPipe) {
    if (samePipe(input, output)) refuse('EINVAL', 'splice');
  } else if (inPipe) {
    if (offsetOut !== null && !seekable(output.stat)) refuse('EINVAL', 'splice');
    if (appends(output.info) || !spliceWrites(output.stat)) refuse('EINVAL', 'splice');
  } else if (outPipe) {
    if (offsetIn !== null && !seekable(input.stat)) refuse('EINVAL', 'splice');
    if (!spliceReads(input.stat)) refuse('EINVAL', 'splice');
  } else {
    refuse('EINVAL', 'splice');
  }
  const readSide = nonBlockingSide(fdIn, inPipe, nonBlock);
  const writeSide = nonBlockingSide(fdOut, outPipe, nonBlock);
  try {
    return readThenWrite(fdIn, offsetIn, fdOut, offsetOut, length, 'splice',
      { readFd: readSide?.fd ?? fdIn, writeFd: writeSide?.fd ?? fdOut });
  } finally {
    readSide?.close();
    writeSide?.close();
  }
}

export function copyFileRange(fdIn: number, fdOut: number, length: number, offsetIn: Offset,
  offsetOut: Offset): number {
  const [input, output] = examine([fdIn, fdOut], 'copy_file_range');
  if (input.stat.isDirectory() || output.stat.isDirectory()) refuse('EISDIR', 'copy_file_range');
  if (!input.stat.isFile() || !output.stat.isFile()) refuse('EINVAL', 'copy_file_range');
  if (!mayRead(input.info) || !mayWrite(output.info) || appends(output.info)) refuse('EBADF', 'copy_file_range');
  if (overlaps(input, offsetIn, output, offsetOut, length)) refuse('EINVAL', 'copy_file_range');
  return readThenWrite(fdIn, offsetIn, fdOut, offsetOut, length, 'copy_file_range');
}

/**
 * copy_file_range's refusal of overlapping ranges of one file: the length is first cut to the input's end, as
 * the kernel does. A position /proc cannot tell is taken to overlap: refusing is safe, copying is not.
 */
function overlaps(input: Examined, offsetIn: Offset, output: Examined, offsetOut: Offset, length: number): boolean {
  if (input.stat.dev !== output.stat.dev || input.stat.ino !== output.stat.ino) return false;
  const from = offsetIn ?? input.info?.pos;
  const to = offsetOut ?? output.info?.pos;
  if (from === undefined || to === undefined) return true;
  const count = Math.max(0, Math.min(length, input.stat.size - Number(from)));
  return Number(to) + count > Number(from) && Number(to) < Number(from) + count;
}

export function vmsplice(pipeWriteFd: number, data: ArrayBufferView[], nonBlock: boolean): number {
  const views = data.filter((v) => v.byteLength > 0);
  // vmsplice(2) takes only a pipe's write end: EBADF for anything else, as the kernel says.
  const [pipe] = examine([pipeWriteFd], 'vmsplice');
  if (!pipe.stat.isFIFO() || !mayWrite(pipe.info)) refuse('EBADF', 'vmsplice');
  if (views.length === 0) return 0;
  const writeSide = nonBlockingSide(pipeWriteFd, true, nonBlock);
  try {
    return fs.writevSync(writeSide?.fd ?? pipeWriteFd, views as NodeJS.ArrayBufferView[]);
  } catch (err) {
    throw asSyscallError(err, 'vmsplice');
  } finally {
    writeSide?.close();
  }
}

/** tee(2) cannot be emulated (reading would consume the pipe); what the kernel refuses is refused the same. */
export function tee(pipeIn: number, pipeOut: number): never {
  const [input, output] = examine([pipeIn, pipeOut], 'tee');
  if (!mayRead(input.info) || !mayWrite(output.info)) refuse('EBADF', 'tee');
  if (!input.stat.isFIFO() || !output.stat.isFIFO() || samePipe(input, output)) refuse('EINVAL', 'tee');
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
