// File mappings as Buffers that never crash the process: the native side registers every mapping with the
// SIGBUS guard; this module validates, opens and closes paths, and stands in with a copy where mapping is not
// possible (no binding, or a runtime that refuses external buffers).
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import { constants as bufferConstants } from 'node:buffer';
import type { FileHandle } from 'node:fs/promises';
import { promisify } from 'node:util';
import { kernel } from './seam';
import { handleFd, isFileHandle, requireReadable, requireWritable } from './fds';
import { type Lease, leaseFd } from './lease';
import {
  INTERNAL,
  illegalConstructor,
  invalidArgType,
  invalidArgValue,
  mappingClosed,
  mappingTruncated,
  outOfRange,
  systemError,
  validateBoolean,
  validateFd,
  validateLength,
  validateOffset,
  validateOptions,
} from './errors';

export type MapMode = 'read' | 'write' | 'private';
export type MapAdvice = 'normal' | 'sequential' | 'random' | 'willneed' | 'dontneed' | 'hugepage';
export type MapTarget = string | number | FileHandle;

export interface MapOptions {
  /** Where the range starts in the file: any value; the library aligns the mapping itself. Default 0. */
  offset?: number | bigint;
  /** Bytes to map. Default: to the end of the file. */
  length?: number;
  /**
   * 'read' (the file as it is; a store from JS gets a private copy of its page), 'write' (shared: stores reach
   * the file), 'private' (copy-on-write, with the memory for every page reserved). Default 'read'.
   */
  mode?: MapMode;
  /** Fault the whole range in now (MAP_POPULATE). */
  populate?: boolean;
  advice?: MapAdvice;
  /** Keep the range in RAM (mlock). */
  lock?: boolean;
  /**
   * Take a read lease first, so the mapping learns (event 'revoked') when another process opens the file for
   * writing or truncates it: true (map anyway where no lease can be had; `leased` says) or 'required'.
   * Not with mode 'write' (our own writable fd would break it).
   */
  lease?: boolean | 'required';
}

export interface SyncOptions {
  /** MS_ASYNC: schedule the write-back and return. */
  async?: boolean;
  /** MS_INVALIDATE */
  invalidate?: boolean;
}

export interface RangeOptions {
  offset?: number;
  length?: number;
}

export interface ReadIntoOptions extends RangeOptions {
  targetOffset?: number;
}

const MODES: readonly MapMode[] = ['read', 'write', 'private'];
const EMPTY = Buffer.alloc(0);
const ADVICE: readonly MapAdvice[] = ['normal', 'sequential', 'random', 'willneed', 'dontneed', 'hugepage'];

// Where a mapping's bytes live: the kernel's mapping (native), or a copy read from the file.
interface Backing {
  readonly zeroCopy: boolean;
  truncated(): boolean;
  sync(async: boolean, invalidate: boolean): void;
  advise(advice: MapAdvice, offset: number, length: number): void;
  lock(on: boolean): void;
  /** Copies and returns how many of the copied bytes are file data. */
  readInto(target: ArrayBufferView, offset: number, length: number, targetOffset: number): number;
  /** Lets the file go; the Buffer's memory reads zeros from then on, and is freed when it is collected. */
  release(): void;
}

// Mappings by native id, for the guard's 'truncated' wake-ups; weak, so an abandoned Mapping can be collected
// (its Buffer's finalizer then unmaps).
const byId = new Map<number, WeakRef<Mapping>>();
const forget = new FinalizationRegistry<number>((id) => byId.delete(id));
kernel.setTruncatedCallback((id) => byId.get(id)?.deref()?.emit('truncated'));

class NativeBacking implements Backing {
  readonly zeroCopy = true;
  constructor(readonly id: number) {}
  truncated(): boolean {
    return kernel.truncated(this.id);
  }
  sync(async: boolean, invalidate: boolean): void {
    kernel.msync(this.id, async, invalidate);
  }
  advise(advice: MapAdvice, offset: number, length: number): void {
    kernel.madvise(this.id, kernel.madviseValues[advice], offset, length);
  }
  lock(on: boolean): void {
    kernel.mlock(this.id, on);
  }
  readInto(target: ArrayBufferView, offset: number, length: number, targetOffset: number): number {
    return kernel.readInto(this.id, target, offset, length, targetOffset);
  }
  release(): void {
    byId.delete(this.id);
    kernel.unmap(this.id);
  }
}

/** The range read into an ordinary Buffer; 'write' mode writes it back on sync() and unmap(). */
class CopyBacking implements Backing {
  readonly zeroCopy = false;
  constructor(
    private readonly fd: number,
    private readonly ownsFd: boolean,
    private readonly position: number,
    private readonly buffer: Buffer,
    private readonly writeBack: boolean,
  ) {}
  truncated(): boolean {
    return false;
  }
  sync(): void {
    if (!this.writeBack) return;
    for (let done = 0; done < this.buffer.length;) {
      done += fs.writeSync(this.fd, this.buffer, done, this.buffer.length - done, this.position + done);
    }
  }
  advise(): void {}
  lock(): void {}
  readInto(target: ArrayBufferView, offset: number, length: number, targetOffset: number): number {
    const dst = new Uint8Array(target.buffer, target.byteOffset + targetOffset, length);
    dst.set(this.buffer.subarray(offset, offset + length));
    return length;
  }
  release(): void {
    try {
      this.sync();
    } finally {
      if (this.ownsFd) fs.closeSync(this.fd);
      // Zeros, as a real mapping reads after unmap(). No detach: zlib, socket and fs writes may still hold it.
      // One the caller detached (transferred to a worker) is no longer ours to touch.
      if (this.buffer.byteLength > 0) this.buffer.fill(0);
    }
  }
}

export class Mapping extends EventEmitter {
  /** Bytes in the mapping (the asked range). */
  readonly length: number;
  /** Where the range starts in the file, as given. */
  readonly offset: number | bigint;
  readonly mode: MapMode;
  #buffer: Buffer;
  #backing: Backing;
  #closed = false;
  #lease: Lease | undefined;
  #revoked = false;
  /** With `lease`: whether a lease was had, and why not where it was not. */
  leased?: boolean;
  leaseReason?: string;

  /** @internal */
  constructor(token: typeof INTERNAL, buffer: Buffer, backing: Backing, offset: number | bigint, mode: MapMode) {
    if (token !== INTERNAL) throw illegalConstructor('Mapping', 'mapSync() or map()');
    super();
    this.#buffer = buffer;
    this.#backing = backing;
    this.length = buffer.length;
    this.offset = offset;
    this.mode = mode;
  }

  /** A Buffer over exactly the asked range; an empty Buffer after unmap(). */
  get buffer(): Buffer {
    return this.#closed ? EMPTY : this.#buffer;
  }
  /** False when the library had to read the range into memory instead of mapping it. */
  get zeroCopy(): boolean {
    return this.#backing.zeroCopy;
  }
  /** True once the guard had to fill pages with zeros because the file was truncated under the mapping. */
  get truncated(): boolean {
    return !this.#closed && this.#backing.truncated();
  }
  get closed(): boolean {
    return this.#closed;
  }
  /** The lease broke: another process opened the file for writing or truncated it. The bytes may change. */
  get revoked(): boolean {
    return this.#revoked;
  }

  /** @internal */
  holdLease(lease: Lease): void {
    this.#lease = lease;
    lease.once('break', () => {
      this.#revoked = true;
      this.emit('revoked');
    });
  }

  #check(method: string): void {
    if (this.#closed) throw mappingClosed(method);
  }

  #range(options: RangeOptions | undefined, method: string): [number, number] {
    this.#check(method);
    const opts = validateOptions<RangeOptions>(options);
    const offset = opts.offset === undefined ? 0 : validateLength(opts.offset, 'options.offset');
    if (offset > this.length) throw outOfRange('options.offset', `<= ${this.length}`, offset);
    const length = opts.length === undefined ? this.length - offset : validateLength(opts.length, 'options.length');
    if (length > this.length - offset) throw outOfRange('options.length', `<= ${this.length - offset}`, length);
    return [offset, length];
  }

  /** Writes changes back to the file (msync); a no-op for 'read' and 'private' copies. */
  sync(options?: SyncOptions): void {
    this.#check('sync');
    const opts = validateOptions<SyncOptions>(options);
    this.#backing.sync(validateBoolean(opts.async, 'options.async'),
      validateBoolean(opts.invalidate, 'options.invalidate'));
  }

  /** madvise over a sub-range (default: all of it). */
  advise(advice: MapAdvice, options?: RangeOptions): void {
    const [offset, length] = this.#range(options, 'advise');
    this.#backing.advise(validateAdvice(advice, 'advice'), offset, length);
  }

  lock(): void {
    this.#check('lock');
    this.#backing.lock(true);
  }

  unlock(): void {
    this.#check('unlock');
    this.#backing.lock(false);
  }

  /**
   * Copies bytes of the mapping into `target` natively; the copy cannot fault. When the file was truncated under
   * the range, it throws ERR_MAPPING_TRUNCATED after copying, with `bytes` set to how many were file data.
   */
  readInto(target: ArrayBufferView, options?: ReadIntoOptions): number {
    this.#check('readInto');
    if (!ArrayBuffer.isView(target)) throw invalidArgType('target', 'an instance of ArrayBufferView', target);
    const opts = validateOptions<ReadIntoOptions>(options);
    const targetOffset = opts.targetOffset === undefined ? 0 : validateLength(opts.targetOffset, 'options.targetOffset');
    if (targetOffset > target.byteLength) throw outOfRange('options.targetOffset', `<= ${target.byteLength}`, targetOffset);
    const [offset, asked] = this.#range({ offset: opts.offset, length: opts.length }, 'readInto');
    const length = opts.length === undefined ? Math.min(asked, target.byteLength - targetOffset) : asked;
    if (length > target.byteLength - targetOffset) {
      throw outOfRange('options.length', `<= ${target.byteLength - targetOffset} (room in target)`, length);
    }
    const valid = this.#backing.readInto(target, offset, length, targetOffset);
    if (valid < length) throw mappingTruncated(valid, 'readInto');
    return length;
  }

  /**
   * Lets the file (and any lease) go now. `buffer` is empty afterwards; a Buffer or view taken before reads
   * zeros, and its memory is freed when it is garbage-collected. A second call does nothing.
   */
  unmap(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#lease?.release();
    this.#backing.release();
  }

  [Symbol.dispose](): void {
    this.unmap();
  }
}

function validateAdvice(value: unknown, name: string): MapAdvice {
  if (!ADVICE.includes(value as MapAdvice)) throw invalidArgValue(name, value, `must be one of ${ADVICE.join(', ')}`);
  return value as MapAdvice;
}

interface Request {
  lease: boolean | 'required';
  offset: number | bigint;
  offsetValue: number | bigint;
  length: number | undefined;
  mode: MapMode;
  populate: boolean;
  lock: boolean;
  advice: MapAdvice | undefined;
}

function validateRequest(options: unknown): Request {
  const opts = validateOptions<MapOptions>(options);
  const offset = validateOffset(opts.offset, 'options.offset') ?? 0;
  const mode = opts.mode ?? 'read';
  if (!MODES.includes(mode)) throw invalidArgValue('options.mode', mode, `must be one of ${MODES.join(', ')}`);
  let length: number | undefined;
  if (opts.length !== undefined) {
    length = validateLength(opts.length, 'options.length');
    if (length === 0) throw outOfRange('options.length', '>= 1', length);
  }
  const lease = opts.lease ?? false;
  if (lease !== false && lease !== true && lease !== 'required') {
    throw invalidArgValue('options.lease', lease, "must be true, false or 'required'");
  }
  if (lease && mode === 'write') throw invalidArgValue('options.lease', lease, "cannot guard a 'write' mapping");
  return {
    lease,
    offset: opts.offset ?? 0,
    offsetValue: offset,
    length,
    mode,
    populate: validateBoolean(opts.populate, 'options.populate'),
    lock: validateBoolean(opts.lock, 'options.lock'),
    advice: opts.advice === undefined ? undefined : validateAdvice(opts.advice, 'options.advice'),
  };
}


interface Opened {
  fd: number;
  ownsFd: boolean;
  path?: string;
}

function openFlags(mode: MapMode): number {
  // O_NONBLOCK: a FIFO given by path must not block the open; it is refused right after.
  return (mode === 'write' ? fs.constants.O_RDWR : fs.constants.O_RDONLY) | fs.constants.O_NONBLOCK;
}

function targetFd(target: unknown): Opened | undefined {
  if (typeof target === 'number') return { fd: validateFd(target, 'target'), ownsFd: false };
  if (isFileHandle(target)) return { fd: handleFd(target, 'fstat'), ownsFd: false };
  if (typeof target !== 'string') {
    throw invalidArgType('target', 'of type string or number or an instance of FileHandle', target);
  }
  return undefined;
}

/** Maps the opened file, or copies where it cannot map. Closes an fd it owns unless the copy keeps it. */
function mapOpened(opened: Opened, size: number, isFile: boolean, req: Request): Mapping {
  const { fd, ownsFd, path } = opened;
  let keepFd = false;
  let lease: Lease | undefined;
  let leaseReason: string | undefined;
  try {
    if (!isFile) throw systemError(-19 /* ENODEV, what mmap answers */, 'mmap', path);
    if (req.lease) {
      // Before mapping: a lease taken after could miss a writer that came in between.
      try {
        lease = leaseFd(fd, 'read', false, 0, undefined, path);
      } catch (err) {
        if (req.lease === 'required') throw err;
        const code = (err as { code?: string }).code;
        leaseReason = code === 'ERR_ZEROCOPY_UNSUPPORTED' ? 'no-binding' : code;
      }
    }
    const start = Number(req.offsetValue);
    if (start > size) throw outOfRange('options.offset', `<= ${size} (the file's size)`, req.offset);
    const length = req.length ?? size - start;
    if (length === 0) throw systemError(-22 /* EINVAL: nothing to map */, 'mmap', path);
    if (start + length > size) throw outOfRange('options.length', `<= ${size - start} (to the end of the file)`, length);
    if (length > bufferConstants.MAX_LENGTH) {
      throw outOfRange('options.length',
        `<= ${bufferConstants.MAX_LENGTH} (what one Buffer can hold): map a window with offset and length`, length);
    }
    const advice = req.advice === undefined ? -1 : kernel.madviseValues[req.advice] ?? -1;
    const mapped = kernel.map(fd, req.offsetValue, length, req.mode, req.populate, req.lock, advice);
    let mapping: Mapping;
    if (mapped) {
      mapping = new Mapping(INTERNAL, mapped.buffer, new NativeBacking(mapped.id), req.offset, req.mode);
      byId.set(mapped.id, new WeakRef(mapping));
      forget.register(mapping, mapped.id);
    } else {
      // What mmap answers for an fd not open for what the mapping needs: EACCES.
      const refusal = () => systemError(-13 /* EACCES */, 'mmap', path);
      requireReadable(fd, refusal);
      if (req.mode === 'write') requireWritable(fd, refusal);
      const buffer = readRange(fd, start, length, path);
      keepFd = ownsFd && req.mode === 'write';
      mapping = new Mapping(INTERNAL, buffer, new CopyBacking(fd, keepFd, start, buffer, req.mode === 'write'),
        req.offset, req.mode);
    }
    if (req.lease) {
      mapping.leased = lease !== undefined;
      if (lease) mapping.holdLease(lease);
      else mapping.leaseReason = leaseReason;
    }
    lease = undefined; // the mapping owns it now
    return mapping;
  } finally {
    lease?.release();
    if (ownsFd && !keepFd) fs.closeSync(fd);
  }
}

// fs.readSync takes at most 2^31-1 bytes per call.
const READ_CHUNK = 1 << 30;

function readRange(fd: number, position: number, length: number, path?: string): Buffer {
  const buffer = Buffer.allocUnsafeSlow(length);
  for (let done = 0; done < length;) {
    const n = fs.readSync(fd, buffer, done, Math.min(length - done, READ_CHUNK), position + done);
    if (n === 0) throw systemError(-22, 'read', path);
    done += n;
  }
  return buffer;
}

/** Maps a file (a path, an fd or a FileHandle) synchronously. */
export function mapSync(target: MapTarget, options?: MapOptions): Mapping {
  const req = validateRequest(options);
  const opened = targetFd(target) ??
    { fd: fs.openSync(target as string, openFlags(req.mode)), ownsFd: true, path: target as string };
  let st: fs.Stats;
  try {
    st = fs.fstatSync(opened.fd);
  } catch (err) {
    if (opened.ownsFd) fs.closeSync(opened.fd);
    throw err;
  }
  return mapOpened(opened, st.size, st.isFile(), req);
}

const openAsync = promisify(fs.open);
const fstatAsync = promisify(fs.fstat);

/** Maps a file; opening and stat-ing a path happen off the JS thread. */
export async function map(target: MapTarget, options?: MapOptions): Promise<Mapping> {
  const req = validateRequest(options);
  const given = targetFd(target);
  if (given) {
    // Off the JS thread as for a path: a loop of `await map(fd)` must give the event loop a turn, where the
    // finalizers of dropped mappings run (else their address ranges pile up to vm.max_map_count).
    const st = await fstatAsync(given.fd);
    return mapOpened(given, st.size, st.isFile(), req);
  }
  const fd = await openAsync(target as string, openFlags(req.mode));
  let st: fs.Stats;
  try {
    st = await fstatAsync(fd);
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
  return mapOpened({ fd, ownsFd: true, path: target as string }, st.size, st.isFile(), req);
}
