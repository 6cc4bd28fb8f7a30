// The raw syscalls, one call each and synchronous: validate, then hand to the kernel (the addon's, or the
// portable one's read/write emulations).
// They return the bytes moved (possibly fewer than asked) and throw fs-shaped errors, EAGAIN included.
import {
  type SystemError,
  invalidArgType,
  mappingTruncated,
  outOfRange,
  validateBoolean,
  validateFd,
  validateLength,
  validateOffset,
  validateOptions,
} from './errors';
import { kernel } from './seam';

export type Offset = number | bigint;

export interface SendfileOptions {
  /** Where to start reading the input file; when given, the input fd's position is left untouched. */
  offset?: Offset;
  /** How many bytes to send at most. Required. */
  length: number;
}

export interface SpliceOptions {
  offsetIn?: Offset;
  offsetOut?: Offset;
  /** SPLICE_F_MOVE: a hint to move pages instead of copying. */
  move?: boolean;
  /** SPLICE_F_MORE: more data will follow (like MSG_MORE on a socket). */
  more?: boolean;
  /** SPLICE_F_NONBLOCK: do not block on the pipe(s); EAGAIN instead. */
  nonBlock?: boolean;
}

export interface TeeOptions {
  nonBlock?: boolean;
}

export interface VmspliceOptions {
  nonBlock?: boolean;
}

export interface CopyFileRangeOptions {
  offsetIn?: Offset;
  offsetOut?: Offset;
}

export interface CreatePipeOptions {
  /** Capacity in bytes, applied with F_SETPIPE_SZ (the kernel rounds it up to a power-of-two page count). */
  size?: number;
  /** Open both ends O_NONBLOCK. */
  nonBlock?: boolean;
}

export interface Pipe {
  readFd: number;
  writeFd: number;
  /** The capacity the kernel actually set. */
  size: number;
}

export function sendfileSync(outFd: number, inFd: number, options: SendfileOptions): number {
  validateFd(outFd, 'outFd');
  validateFd(inFd, 'inFd');
  const opts = validateOptions<SendfileOptions>(options);
  const offset = validateOffset(opts.offset, 'options.offset');
  const length = validateLength(opts.length, 'options.length');
  return kernel.sendfile(outFd, inFd, offset, length);
}

export function spliceSync(fdIn: number, fdOut: number, length: number, options?: SpliceOptions): number {
  validateFd(fdIn, 'fdIn');
  validateFd(fdOut, 'fdOut');
  validateLength(length, 'length');
  const opts = validateOptions<SpliceOptions>(options);
  const offsetIn = validateOffset(opts.offsetIn, 'options.offsetIn');
  const offsetOut = validateOffset(opts.offsetOut, 'options.offsetOut');
  const move = validateBoolean(opts.move, 'options.move');
  const more = validateBoolean(opts.more, 'options.more');
  const nonBlock = validateBoolean(opts.nonBlock, 'options.nonBlock');
  return kernel.splice(fdIn, fdOut, length, offsetIn, offsetOut, move, more, nonBlock);
}

export function teeSync(pipeIn: number, pipeOut: number, length: number, options?: TeeOptions): number {
  validateFd(pipeIn, 'pipeIn');
  validateFd(pipeOut, 'pipeOut');
  validateLength(length, 'length');
  const nonBlock = validateBoolean(validateOptions<TeeOptions>(options).nonBlock, 'options.nonBlock');
  return kernel.tee(pipeIn, pipeOut, length, nonBlock);
}

function validateViews(data: unknown): ArrayBufferView[] {
  const views = Array.isArray(data) ? data : [data];
  views.forEach((view, i) => {
    if (!ArrayBuffer.isView(view)) {
      const name = Array.isArray(data) ? `data[${i}]` : 'data';
      throw invalidArgType(name, 'an instance of ArrayBufferView or an array of them', view);
    }
  });
  return views as ArrayBufferView[];
}

export function vmspliceSync(pipeWriteFd: number, data: ArrayBufferView | ArrayBufferView[],
  options?: VmspliceOptions): number {
  validateFd(pipeWriteFd, 'pipeWriteFd');
  const views = validateViews(data);
  const nonBlock = validateBoolean(validateOptions<VmspliceOptions>(options).nonBlock, 'options.nonBlock');
  // The kernel reads a truncated mapping without SIGBUS: EFAULT, or a short count. Either, when a view lies in
  // a mapping whose file no longer covers it, is a truncation and never a success.
  let moved: number;
  try {
    moved = kernel.vmsplice(pipeWriteFd, views, nonBlock);
  } catch (err) {
    if ((err as SystemError).code === 'EFAULT' && kernel.mappedTruncated(views)) throw mappingTruncated(0, 'vmsplice');
    throw err;
  }
  const total = views.reduce((sum, v) => sum + v.byteLength, 0);
  if (moved < total && kernel.mappedTruncated(views)) throw mappingTruncated(moved, 'vmsplice');
  return moved;
}

export function copyFileRangeSync(fdIn: number, fdOut: number, length: number,
  options?: CopyFileRangeOptions): number {
  validateFd(fdIn, 'fdIn');
  validateFd(fdOut, 'fdOut');
  validateLength(length, 'length');
  const opts = validateOptions<CopyFileRangeOptions>(options);
  const offsetIn = validateOffset(opts.offsetIn, 'options.offsetIn');
  const offsetOut = validateOffset(opts.offsetOut, 'options.offsetOut');
  return kernel.copyFileRange(fdIn, fdOut, length, offsetIn, offsetOut);
}

const MAX_PIPE_SIZE = 2 ** 31 - 1;

export function createPipe(options?: CreatePipeOptions): Pipe {
  const opts = validateOptions<CreatePipeOptions>(options);
  let size = 0;
  if (opts.size !== undefined) {
    size = validateLength(opts.size, 'options.size');
    if (size < 1 || size > MAX_PIPE_SIZE) throw outOfRange('options.size', `>= 1 && <= ${MAX_PIPE_SIZE}`, size);
  }
  const nonBlock = validateBoolean(opts.nonBlock, 'options.nonBlock');
  return kernel.createPipe(size, nonBlock);
}
