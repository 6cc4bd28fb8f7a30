// Direct I/O (O_DIRECT reads and writes between the device and the program's own aligned buffers, past the page
// cache) and page-cache residency. Async calls run as tasks on the native engine threads; without the binding,
// the same surface does buffered I/O with `direct: false` and says why.
import * as fs from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import * as os from 'node:os';
import { isSharedArrayBuffer } from 'node:util/types';
import { binding } from './binding';
import { handleFd, isFileHandle } from './fds';
import {
  INTERNAL,
  type SystemError,
  abortError,
  asSyscallError,
  illegalConstructor,
  invalidArgType,
  invalidArgValue,
  outOfRange,
  systemError,
  validateBoolean,
  validateFd,
  validateLength,
  validateOffset,
  validateOptions,
  validateSignal,
  withBytes,
} from './errors';

export type DirectTarget = string | number | FileHandle;

/** Opening flags for a path, as fs names them. For an fd or a FileHandle, its own access mode carries over. */
export type DirectFlags = 'r' | 'r+' | 'w' | 'w+' | 'wx' | 'wx+';

/**
 * Why a DirectFile does buffered I/O:
 * - 'refused': the filesystem answered O_DIRECT with EINVAL (procfs, some FUSE, overlay and network filesystems,
 *   tmpfs before Linux 6.6); what it reads or writes is dropped from the page cache after (POSIX_FADV_DONTNEED);
 * - 'tmpfs': tmpfs accepts O_DIRECT since Linux 6.6 but its page cache is its storage: nothing to bypass or drop;
 * - 'no-binding': the native addon is not loaded (see capabilities()).
 */
export type DirectReason = 'refused' | 'tmpfs' | 'no-binding';

export interface OpenDirectOptions {
  /** Permissions of a file created by 'w' and 'wx' flags. Default 0o666 (before the umask). */
  mode?: number;
}

export interface DirectIoOptions {
  /**
   * Cancels the call: a read or write not yet started on an engine thread is cancelled, one in flight stops
   * between two chunks (8 MiB each) and rejects with AbortError carrying `bytes` moved so far.
   */
  signal?: AbortSignal;
}

export interface SyncOptions {
  /** fsync (data and metadata) instead of fdatasync. Default false. */
  metadata?: boolean;
  /** A sync not yet started is cancelled; one in flight completes. */
  signal?: AbortSignal;
}

export interface ResidencyRange {
  /** Where the range starts. Default 0. */
  offset?: number | bigint;
  /** Bytes. Default: to the end of the file. */
  length?: number;
}

export interface Residency {
  /** Bytes in the range (clamped to the file's size). */
  size: number;
  /** Bytes of it in the page cache (counted in whole pages, at most `size`); null without the binding. */
  cached: number | null;
  /** Bytes of it dirty and under writeback: null where the kernel lacks cachestat(2) or without the binding. */
  dirty: number | null;
  writeback: number | null;
  /** How it was learned: cachestat(2) (Linux 6.5+), else mincore(2) on a temporary mapping. */
  method: 'cachestat' | 'mincore' | null;
  /** Why `cached` is null. */
  reason?: 'no-binding';
}

const { EBADF } = os.constants.errno;
const PAGE_SIZE = binding?.pageSize ?? 4096;
// Without the binding, a read or write moves this much per call, with an abort seen between two (as natively).
const FALLBACK_CHUNK = 8 << 20;
// The most buffers one readv or writev takes (Linux's IOV_MAX).
const IOV_MAX = 1024;

/**
 * A zero-filled Buffer of `size` bytes whose memory starts at a multiple of `alignment` (a power of two, default
 * the page size), freed when it is collected. Where the runtime refuses external memory (Electron), a larger
 * ordinary Buffer is sliced at an aligned address. Without the binding nothing can learn an address, and nothing
 * needs one (I/O is buffered): a plain zero-filled Buffer.
 */
export function alignedBuffer(size: number, alignment: number = PAGE_SIZE): Buffer {
  validateLength(size, 'size');
  validateLength(alignment, 'alignment');
  if (alignment < 8 || (alignment & (alignment - 1)) !== 0 || alignment > 1 << 30) {
    throw outOfRange('alignment', 'a power of two >= 8 && <= 2 ** 30', alignment);
  }
  if (!binding) return Buffer.alloc(size);
  const external = binding.alignedBuffer(size, alignment);
  if (external) return external;
  const spare = Buffer.alloc(size + alignment);
  const skip = (alignment - binding.misalignment(spare, alignment)) % alignment;
  return spare.subarray(skip, skip + size);
}

interface Opened {
  fd: number;
  ownsFd: boolean;
  direct: boolean;
  reason: DirectReason | null;
  alignment: number;
  bufferAlignment: number;
}

interface Pending {
  /** The views a read goes to, with their lengths when it started: the bytes of a bounced read are copied there. */
  views: ArrayBufferView[];
  lengths: number[];
  resolve(bytes: number): void;
  reject(err: SystemError): void;
}

const pending = new Map<number, Pending>();

binding?.setDirectCallback((job, bytes, error, bounce) => {
  const p = pending.get(job);
  if (!p) return;
  pending.delete(job);
  if (bounce) copyOut(bounce, p.views, p.lengths);
  if (error) p.reject(withBytes(error, bytes));
  else p.resolve(bytes);
});

/**
 * A read into views other than alignedBuffer() memory went to a block of the task's own (the caller may detach or
 * transfer its memory while the read waits); its bytes go to each view still attached with its length.
 */
function copyOut(bounce: Buffer, views: ArrayBufferView[], lengths: number[]): void {
  let at = 0;
  views.forEach((v, i) => {
    const n = Math.min(lengths[i], bounce.length - at);
    if (n > 0 && v.byteLength === lengths[i]) new Uint8Array(v.buffer, v.byteOffset, n).set(bounce.subarray(at, at + n));
    at += lengths[i];
  });
}

/** Runs a started engine task to its end; an abort cancels it (see DirectIoOptions.signal). */
function awaitTask(start: () => number, signal: AbortSignal | undefined, views: ArrayBufferView[]): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const id = start();
    const cancel = () => binding!.cancel(id);
    signal?.addEventListener('abort', cancel, { once: true });
    const settle = () => signal?.removeEventListener('abort', cancel);
    pending.set(id, {
      views,
      lengths: views.map((v) => v.byteLength),
      resolve(bytes) {
        settle();
        resolve(bytes);
      },
      reject(err) {
        settle();
        reject(err.code === 'ECANCELED' && signal?.aborted ? abortError((err as { bytes?: number }).bytes ?? 0, signal) : err);
      },
    });
  });
}

// Every direct write is positional, which O_APPEND overrides (pwritev lands at the end of the file, or fails).
const APPEND_REASON = 'positional writes need a non-append open';

function flagsOf(value: unknown): number {
  const { O_RDONLY, O_RDWR, O_WRONLY, O_CREAT, O_TRUNC, O_EXCL } = fs.constants;
  const table: Record<DirectFlags, number> = {
    r: O_RDONLY,
    'r+': O_RDWR,
    w: O_WRONLY | O_CREAT | O_TRUNC,
    'w+': O_RDWR | O_CREAT | O_TRUNC,
    wx: O_WRONLY | O_CREAT | O_EXCL,
    'wx+': O_RDWR | O_CREAT | O_EXCL,
  };
  if (typeof value === 'string' && value.includes('a')) {
    throw invalidArgValue('flags', value, `is an append mode: ${APPEND_REASON}`);
  }
  if (typeof value !== 'string' || !Object.hasOwn(table, value)) {
    throw invalidArgValue('flags', value, `must be one of ${Object.keys(table).map((k) => `'${k}'`).join(', ')}`);
  }
  return table[value as DirectFlags];
}

/** A caller's fd open for appending (its flags in /proc/self/fdinfo), which the reopened one would inherit. */
function isAppend(fd: number): boolean {
  try {
    const flags = /^flags:\s+([0-7]+)/m.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
    return flags !== null && (parseInt(flags[1], 8) & fs.constants.O_APPEND) !== 0;
  } catch {
    return false; // a closed fd: the open says EBADF
  }
}

function targetFd(target: unknown): number | undefined {
  if (typeof target === 'number') return validateFd(target, 'target');
  if (isFileHandle(target)) return handleFd(target, 'open');
  if (typeof target !== 'string') {
    throw invalidArgType('target', 'of type string or number or an instance of FileHandle', target);
  }
  // As fs refuses it: the kernel would see the path end at the NUL (a write to '/tmp/x\0.bak' truncating /tmp/x).
  if (target.includes('\0')) {
    throw invalidArgValue('path', target, 'must be a string, Uint8Array, or URL without null bytes');
  }
  return undefined;
}

/**
 * Without the binding, what the native open refuses: a directory (EISDIR), anything that is not a regular file or
 * a block device (ESPIPE: a FIFO or socket answers a positional read so, a character device's read may never end);
 * a closed fd (EBADF).
 */
function kindRefusal(st: fs.Stats): number | undefined {
  if (st.isDirectory()) return -os.constants.errno.EISDIR;
  if (!st.isFile() && !st.isBlockDevice()) return -os.constants.errno.ESPIPE;
  return undefined;
}

function fdKindRefusal(fd: number): number | undefined {
  try {
    return kindRefusal(fs.fstatSync(fd));
  } catch (err) {
    throw asSyscallError(err, 'open');
  }
}

function open(target: unknown, flags: unknown, options: unknown): Opened {
  const fd = targetFd(target);
  const opts = validateOptions<OpenDirectOptions>(options);
  const mode = opts.mode === undefined ? 0o666 : validateMode(opts.mode);
  const access = fd === undefined ? flagsOf(flags ?? 'r') : 0;
  if (fd !== undefined && isAppend(fd)) throw invalidArgValue('target', target, `is open for appending: ${APPEND_REASON}`);
  if (binding) {
    const o = fd === undefined ? binding.openDirect(target as string, access, mode) : binding.reopenDirect(fd);
    return { ...o, reason: o.reason as DirectReason | null, ownsFd: true };
  }
  // As natively: an existing path of the wrong kind is refused before the open acts on it; O_NONBLOCK so that a
  // FIFO swapped in meanwhile cannot block the open.
  const existing = fd === undefined ? fs.statSync(target as string, { throwIfNoEntry: false }) : undefined;
  const early = existing && !existing.isDirectory() ? kindRefusal(existing) : undefined;
  if (early !== undefined) throw systemError(early, 'open', target as string);
  const own = fd === undefined ? fs.openSync(target as string, access | fs.constants.O_NONBLOCK, mode) : fd;
  const refusal = fdKindRefusal(own);
  if (refusal !== undefined) {
    if (fd === undefined) fs.closeSync(own);
    throw systemError(refusal, 'open', typeof target === 'string' ? target : undefined);
  }
  return { fd: own, ownsFd: fd === undefined, direct: false, reason: 'no-binding', alignment: 1, bufferAlignment: 1 };
}

/**
 * Opens a file for direct I/O: a path (with fs-style `flags`, default 'r'), or an fd or FileHandle, which gets a
 * new open file description of its own (through /proc/self/fd) so that O_DIRECT never changes the caller's.
 * Where the filesystem cannot do direct I/O, the DirectFile works buffered and says why (`direct`, `reason`).
 */
export function openDirectSync(target: DirectTarget, flags?: DirectFlags, options?: OpenDirectOptions): DirectFile {
  return new DirectFile(INTERNAL, open(target, flags, options));
}

/** openDirectSync as a promise (opening takes microseconds; the reads and writes are what wait). */
export async function openDirect(target: DirectTarget, flags?: DirectFlags, options?: OpenDirectOptions): Promise<DirectFile> {
  return openDirectSync(target, flags, options);
}

// The largest file offset (loff_t): a range ending past it would wrap (the kernel answers EINVAL, or worse).
const MAX_END = 2n ** 63n - 1n;

/** A range [offset, offset + length) must end by MAX_END: ERR_OUT_OF_RANGE naming the offset's limit. */
function validateEnd(offset: number | bigint, length: number, name: string): void {
  if (BigInt(offset) + BigInt(length) > MAX_END) {
    throw outOfRange(name, `<= ${MAX_END - BigInt(length)} (2 ** 63 - 1 less the length ${length})`, offset);
  }
}

/** A file mode as fs takes it (a uint32: a larger one would be cut to its low bits on the way to open()). */
function validateMode(mode: unknown): number {
  const value = validateLength(mode, 'options.mode');
  if (value > 0xffffffff) throw outOfRange('options.mode', '>= 0 && <= 4294967295', value);
  return value;
}

/** Closes a DirectFile's own fd as it was opened: natively, or by fs without the binding. */
function closeOwnFd(fd: number): void {
  if (binding) binding.closeDirect(fd);
  else fs.closeSync(fd);
}

// A DirectFile dropped without close() gives its fd back when collected, as Node's FileHandle does, and says so.
const unclosed = new FinalizationRegistry<number>((fd) => {
  process.emitWarning(`Closing file descriptor ${fd} on garbage collection (a DirectFile was not closed)`);
  try {
    closeOwnFd(fd);
  } catch {
    // nothing to tell anyone any more
  }
});

export class DirectFile {
  /** This file's own fd (a new open file description); closed by close(). */
  readonly fd: number;
  /** O_DIRECT is in effect: reads and writes bypass the page cache. */
  readonly direct: boolean;
  /** Why not, when `direct` is false. */
  readonly reason: DirectReason | null;
  /** Positions and lengths must be multiples of this (statx STATX_DIOALIGN, else the logical block size); 1 when not direct. */
  readonly alignment: number;
  /** Buffer addresses must be multiples of this; 1 when not direct. alignedBuffer() with the default (the page size) always fits. */
  readonly bufferAlignment: number;
  #ownsFd: boolean;
  #closed = false;

  /** @internal */
  constructor(internal: typeof INTERNAL, opened: Opened) {
    if (internal !== INTERNAL) throw illegalConstructor('DirectFile', 'openDirect()');
    this.fd = opened.fd;
    this.direct = opened.direct;
    this.reason = opened.reason;
    this.alignment = opened.alignment;
    this.bufferAlignment = opened.bufferAlignment;
    this.#ownsFd = opened.ownsFd;
    if (this.#ownsFd) unclosed.register(this, this.fd, this);
  }

  /** Reads into `buffer` at `position` until it is full or the file ends; resolves with the bytes read. */
  read(buffer: ArrayBufferView, position: number | bigint, options?: DirectIoOptions): Promise<number> {
    return this.#async(false, buffer, position, options, 'buffer');
  }

  /** Writes all of `buffer` at `position`; resolves with the bytes written. */
  write(buffer: ArrayBufferView, position: number | bigint, options?: DirectIoOptions): Promise<number> {
    return this.#async(true, buffer, position, options, 'buffer');
  }

  /** Reads into the buffers in order, as one preadv(2) (per 8 MiB chunk). */
  readv(buffers: ArrayBufferView[], position: number | bigint, options?: DirectIoOptions): Promise<number> {
    return this.#async(false, buffers, position, options, 'buffers');
  }

  writev(buffers: ArrayBufferView[], position: number | bigint, options?: DirectIoOptions): Promise<number> {
    return this.#async(true, buffers, position, options, 'buffers');
  }

  /** read() on the calling thread: it waits for the device. */
  readSync(buffer: ArrayBufferView, position: number | bigint): number {
    return this.#sync(false, buffer, position, 'buffer');
  }

  writeSync(buffer: ArrayBufferView, position: number | bigint): number {
    return this.#sync(true, buffer, position, 'buffer');
  }

  /** fdatasync (or fsync with `metadata`) on an engine thread. */
  async sync(options?: SyncOptions): Promise<void> {
    const opts = validateOptions<SyncOptions>(options);
    const metadata = validateBoolean(opts.metadata, 'options.metadata');
    const signal = validateSignal(opts.signal);
    const syscall = metadata ? 'fsync' : 'fdatasync';
    this.#requireOpen(syscall);
    if (!binding) {
      await new Promise<void>((resolve, reject) => {
        const done = (err: Error | null) => (err ? reject(asSyscallError(err, syscall)) : resolve());
        if (metadata) fs.fsync(this.fd, done);
        else fs.fdatasync(this.fd, done);
      });
      return;
    }
    await awaitTask(() => binding!.directSync(this.fd, metadata), signal, []);
  }

  /** Closes this file's fd (not a caller's fd or FileHandle it was opened from). A second close does nothing. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.#ownsFd) return;
    unclosed.unregister(this);
    closeOwnFd(this.fd);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** close() was called. */
  get closed(): boolean {
    return this.#closed;
  }

  #requireOpen(syscall: string): void {
    if (this.#closed) throw systemError(-EBADF, syscall);
  }

  /** Validates before any syscall: misalignment is ERR_OUT_OF_RANGE naming the alignment, never the kernel's EINVAL. */
  #validate(write: boolean, views: unknown, position: unknown, name: string): [ArrayBufferView[], number | bigint] {
    if (!Array.isArray(views)) throw invalidArgType(name, 'an array of ArrayBufferView', views);
    if (views.length > IOV_MAX) throw outOfRange(`${name}.length`, `<= ${IOV_MAX}`, views.length);
    // Every index, holes included (forEach would skip them). Not shared memory: another thread could change or
    // read it while the call copies or moves it, so both modes refuse it alike.
    for (let i = 0; i < views.length; i++) {
      const which = name === 'buffer' ? name : `${name}[${i}]`;
      if (!ArrayBuffer.isView(views[i])) throw invalidArgType(which, 'an instance of ArrayBufferView', views[i]);
      if (isSharedArrayBuffer(views[i].buffer)) {
        throw invalidArgType(which, 'an ArrayBufferView over an ArrayBuffer (not a SharedArrayBuffer)', views[i]);
      }
    }
    const pos = validateOffset(position, 'position');
    if (pos === null) throw invalidArgType('position', 'of type number or bigint', position);
    validateEnd(pos, (views as ArrayBufferView[]).reduce((sum, v) => sum + v.byteLength, 0), 'position');
    this.#requireOpen(write ? 'pwritev' : 'preadv');
    if (this.direct) this.#checkAlignment(views as ArrayBufferView[], pos, name);
    return [views as ArrayBufferView[], pos];
  }

  #checkAlignment(views: ArrayBufferView[], position: number | bigint, name: string): void {
    const { alignment, bufferAlignment } = this;
    if (BigInt(position) % BigInt(alignment) !== 0n) {
      throw outOfRange('position', `a multiple of ${alignment} (this file's direct I/O alignment)`, position);
    }
    views.forEach((v, i) => {
      const which = views.length === 1 && name === 'buffer' ? 'buffer' : `${name}[${i}]`;
      if (v.byteLength % alignment !== 0) {
        throw outOfRange(`${which}.byteLength`, `a multiple of ${alignment} (this file's direct I/O alignment)`, v.byteLength);
      }
      const off = binding!.misalignment(v, bufferAlignment);
      if (off !== 0) {
        throw outOfRange(`${which} address`,
          `a multiple of ${bufferAlignment} (this file's direct I/O buffer alignment; alignedBuffer() makes one)`,
          `${off} bytes past a multiple`);
      }
    });
  }

  #async(write: boolean, buffers: unknown, position: unknown, options: unknown, name: string): Promise<number> {
    return new Promise<number>((resolve) => {
      const [views, pos] = this.#validate(write, name === 'buffer' ? [buffers] : buffers, position, name);
      const signal = validateSignal(validateOptions<DirectIoOptions>(options).signal);
      if (!binding) return resolve(this.#fallback(write, views, pos, signal));
      const dropCache = this.reason === 'refused';
      resolve(awaitTask(() => binding!.directTransfer(this.fd, write, views, pos, dropCache), signal, views));
    });
  }

  #sync(write: boolean, buffers: unknown, position: unknown, name: string): number {
    const [views, pos] = this.#validate(write, name === 'buffer' ? [buffers] : buffers, position, name);
    if (binding) return binding.directTransferSync(this.fd, write, views, pos, this.reason === 'refused');
    const walk = pieces(views, pos, Infinity);
    for (let step = walk.next(0); ; ) {
      if (step.done) return step.value;
      const p = step.value;
      try {
        step = walk.next(write ? fs.writeSync(this.fd, p.bytes, p.offset, p.length, p.position)
          : fs.readSync(this.fd, p.bytes, p.offset, p.length, p.position));
      } catch (err) {
        throw withBytes(asSyscallError(err, write ? 'pwritev' : 'preadv') as Error, p.moved);
      }
    }
  }

  /** Without the binding: fs reads and writes in chunks, an abort seen between two. */
  async #fallback(write: boolean, views: ArrayBufferView[], position: number | bigint, signal?: AbortSignal): Promise<number> {
    const walk = pieces(views, position, FALLBACK_CHUNK);
    for (let step = walk.next(0); ; ) {
      if (step.done) return step.value;
      const p = step.value;
      if (signal?.aborted) throw abortError(p.moved, signal);
      try {
        step = walk.next(await new Promise<number>((resolve, reject) => {
          const cb = (err: Error | null, count: number) => (err ? reject(err) : resolve(count));
          if (write) fs.write(this.fd, p.bytes, p.offset, p.length, p.position, cb);
          else fs.read(this.fd, p.bytes, p.offset, p.length, p.position, cb);
        }));
      } catch (err) {
        throw withBytes(asSyscallError(err, write ? 'pwritev' : 'preadv') as Error, p.moved);
      }
    }
  }
}

/** One read or write of the fallback's loop over a list of views, with the bytes moved before it. */
interface Piece {
  bytes: Buffer;
  offset: number;
  length: number;
  position: number;
  moved: number;
}

/**
 * The fallback's walk over views from a file position, at most `chunk` bytes a call: it yields each call to make
 * and takes the count the call moved, ending (with the total) at the views' end or at a count of 0 (end of file).
 */
function* pieces(views: ArrayBufferView[], position: number | bigint, chunk: number): Generator<Piece, number, number> {
  let moved = 0;
  let at = Number(position);
  for (const v of views) {
    if (v.byteLength === 0) continue; // also a detached view, which Buffer.from refuses
    const bytes = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
    for (let done = 0; done < bytes.length;) {
      const n = yield { bytes, offset: done, length: Math.min(chunk, bytes.length - done), position: at, moved };
      if (n === 0) return moved;
      done += n;
      at += n;
      moved += n;
    }
  }
  return moved;
}

/** The fd behind a residency, evict or prefetch target, with how to give it back (a path is opened read-only). */
function rangeTarget(file: unknown, syscall: string): { fd: number; close(): void } {
  if (file instanceof DirectFile) {
    if (file.closed) throw systemError(-EBADF, syscall);
    return { fd: file.fd, close() {} };
  }
  const fd = targetFd(file);
  if (fd !== undefined) return { fd, close() {} };
  // O_NONBLOCK: opening a FIFO with no writer must not block.
  const own = fs.openSync(file as string, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  return { fd: own, close: () => fs.closeSync(own) };
}

function validateRange(range: unknown): [number | bigint, number | null] {
  const r = validateOptions<ResidencyRange>(range, 'range');
  const offset = validateOffset(r.offset, 'range.offset') ?? 0;
  const length = r.length === undefined ? null : validateLength(r.length, 'range.length');
  if (length !== null) validateEnd(offset, length, 'range.offset');
  return [offset, length];
}

/**
 * How much of a file (a path, fd, FileHandle or DirectFile), or of a range of it, is in the page cache: what a
 * read would find without waiting for the device.
 */
export function residency(file: DirectTarget | DirectFile, range?: ResidencyRange): Residency {
  const [offset, length] = validateRange(range);
  const t = rangeTarget(file, 'cachestat');
  try {
    if (binding) return binding.residency(t.fd, offset, length) as Residency;
    const size = cachedKind(t.fd).size;
    const end = length === null ? size : Math.min(size, Number(offset) + length);
    return { size: Math.max(0, end - Number(offset)), cached: null, dirty: null, writeback: null, method: null,
      reason: 'no-binding' };
  } finally {
    t.close();
  }
}

/** Without the binding, what the native calls refuse: only files and block devices have a page cache. */
function cachedKind(fd: number): fs.Stats {
  let st: fs.Stats;
  try {
    st = fs.fstatSync(fd);
  } catch (err) {
    throw asSyscallError(err, 'fstat');
  }
  if (st.isDirectory()) throw systemError(-os.constants.errno.EISDIR, 'posix_fadvise');
  if (!st.isFile() && !st.isBlockDevice()) throw systemError(-os.constants.errno.ESPIPE, 'posix_fadvise');
  return st;
}

/** Without the binding no advice can be given: false, for a target the native call would take. */
function fallbackCannot(fd: number): false {
  cachedKind(fd);
  return false;
}

/**
 * Drops a range (default: the whole file) from the page cache (POSIX_FADV_DONTNEED), after writing its dirty
 * pages back (the kernel drops only clean pages), so this waits for the device when pages are dirty.
 * Returns false without the binding (nothing can be dropped from JS).
 */
export function evict(file: DirectTarget | DirectFile, range?: ResidencyRange): boolean {
  const [offset, length] = validateRange(range);
  const t = rangeTarget(file, 'posix_fadvise');
  try {
    if (!binding) return fallbackCannot(t.fd);
    binding.evict(t.fd, offset, length);
    return true;
  } finally {
    t.close();
  }
}

/**
 * Starts reading a range (default: the whole file) into the page cache (POSIX_FADV_WILLNEED) and returns at once,
 * e.g. to warm a file before a zero-copy send. Returns false without the binding.
 */
export function prefetch(file: DirectTarget | DirectFile, range?: ResidencyRange): boolean {
  const [offset, length] = validateRange(range);
  const t = rangeTarget(file, 'posix_fadvise');
  try {
    if (!binding) return fallbackCannot(t.fd);
    binding.prefetch(t.fd, offset, length);
    return true;
  } finally {
    t.close();
  }
}
