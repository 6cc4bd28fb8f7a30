// Direct I/O (O_DIRECT reads and writes between the device and the program's own aligned buffers, past the page
// cache) and page-cache residency: validation and orchestration over the seam's direct kernel (engine tasks
// natively; without the binding, the same surface does buffered I/O with `direct: false` and says why).
import * as fs from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import * as os from 'node:os';
import { isSharedArrayBuffer } from 'node:util/types';
import { handleFd, isFileHandle } from './fds';
import {
  INTERNAL,
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
} from './errors';
import { type OpenedDirect, kernel } from './seam';

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
const { direct } = kernel;
// The most buffers one readv or writev takes (Linux's IOV_MAX).
const IOV_MAX = 1024;

/**
 * A zero-filled Buffer of `size` bytes whose memory starts at a multiple of `alignment` (a power of two, default
 * the page size), freed when it is collected. Where the runtime refuses external memory (Electron), a larger
 * ordinary Buffer is sliced at an aligned address. Without the binding nothing can learn an address, and nothing
 * needs one (I/O is buffered): a plain zero-filled Buffer.
 */
export function alignedBuffer(size: number, alignment: number = direct.pageSize): Buffer {
  validateLength(size, 'size');
  validateLength(alignment, 'alignment');
  if (alignment < 8 || (alignment & (alignment - 1)) !== 0 || alignment > 1 << 30) {
    throw outOfRange('alignment', 'a power of two >= 8 && <= 2 ** 30', alignment);
  }
  return direct.alignedBuffer(size, alignment);
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

function open(target: unknown, flags: unknown, options: unknown): OpenedDirect {
  const fd = targetFd(target);
  const opts = validateOptions<OpenDirectOptions>(options);
  const mode = opts.mode === undefined ? 0o666 : validateMode(opts.mode);
  const access = fd === undefined ? flagsOf(flags ?? 'r') : 0;
  if (fd !== undefined && isAppend(fd)) throw invalidArgValue('target', target, `is open for appending: ${APPEND_REASON}`);
  return fd === undefined ? direct.open(target as string, access, mode) : direct.reopen(fd);
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

// A DirectFile dropped without close() gives its fd back when collected, as Node's FileHandle does, and says so.
const unclosed = new FinalizationRegistry<number>((fd) => {
  process.emitWarning(`Closing file descriptor ${fd} on garbage collection (a DirectFile was not closed)`);
  try {
    direct.close(fd);
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
  constructor(internal: typeof INTERNAL, opened: OpenedDirect) {
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
    this.#requireOpen(metadata ? 'fsync' : 'fdatasync');
    await direct.sync(this.fd, metadata, signal);
  }

  /** Closes this file's fd (not a caller's fd or FileHandle it was opened from). A second close does nothing. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.#ownsFd) return;
    unclosed.unregister(this);
    direct.close(this.fd);
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
      const off = direct.misalignment(v, bufferAlignment);
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
      resolve(direct.transfer(this.fd, write, views, pos, this.reason === 'refused', signal));
    });
  }

  #sync(write: boolean, buffers: unknown, position: unknown, name: string): number {
    const [views, pos] = this.#validate(write, name === 'buffer' ? [buffers] : buffers, position, name);
    return direct.transferSync(this.fd, write, views, pos, this.reason === 'refused');
  }
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

/** Validates `range`, opens `file` (a path: read-only, closed after) and hands both to `use`. */
function onRange<T>(file: unknown, range: unknown, syscall: string,
  use: (fd: number, offset: number | bigint, length: number | null) => T): T {
  const [offset, length] = validateRange(range);
  const t = rangeTarget(file, syscall);
  try {
    return use(t.fd, offset, length);
  } finally {
    t.close();
  }
}

/**
 * How much of a file (a path, fd, FileHandle or DirectFile), or of a range of it, is in the page cache: what a
 * read would find without waiting for the device.
 */
export function residency(file: DirectTarget | DirectFile, range?: ResidencyRange): Residency {
  return onRange(file, range, 'cachestat', direct.residency);
}

/**
 * Drops a range (default: the whole file) from the page cache (POSIX_FADV_DONTNEED), after writing its dirty
 * pages back (the kernel drops only clean pages). That waits for the device, so it runs as a task on the engine
 * threads, never on the JS thread; the task holds its own duplicate of the fd. Resolves false without the binding
 * (nothing can be dropped from JS).
 */
export function evict(file: DirectTarget | DirectFile, range?: ResidencyRange): Promise<boolean> {
  return new Promise((resolve) => resolve(onRange(file, range, 'posix_fadvise', direct.evict)));
}

/**
 * Starts reading a range (default: the whole file) into the page cache (POSIX_FADV_WILLNEED) and returns at once,
 * e.g. to warm a file before a zero-copy send. Returns false without the binding.
 */
export function prefetch(file: DirectTarget | DirectFile, range?: ResidencyRange): boolean {
  return onRange(file, range, 'posix_fadvise', direct.prefetch);
}
