// The one typed seam between the public modules and the kernel. Two kernels implement it: 'native' (the addon:
// every strategy, the engine threads, mappings, leases) and 'portable' (read/write in JavaScript: 'copy' only).
// index.ts picks one at load, once; the public modules validate and orchestrate and never ask which they got.
// A new way of moving bytes (io_uring) is a Strategy the native kernel's send() runs and sendFast() may run.
import type { NativeBinding } from '../binding';
import type { DirectReason, Residency } from '../direct';
import type { SystemError } from '../errors';
import type { Lease } from '../lease';
import type { FallbackReason, Strategy } from './reasons';

/** The calls the native kernel passes through as the addon has them, and the portable one emulates. */
export type Calls = Pick<NativeBinding,
  | 'sendfile' | 'splice' | 'tee' | 'vmsplice' | 'copyFileRange' | 'createPipe' | 'mappedTruncated'
  | 'regularSize' | 'mayBlock' | 'ready' | 'openBeneath' | 'setCork' | 'watchOpen' | 'watchMounts'
  | 'watchAdd' | 'watchRemove' | 'watchPoll' | 'watchDrain' | 'watchQuiet' | 'envFd' | 'closeEnvFd' | 'envFds'
  | 'keepMapped' | 'dropMapped'
  | 'map' | 'unmap' | 'msync' | 'madvise' | 'mlock' | 'readInto' | 'truncated' | 'setTruncatedCallback'
  | 'madviseValues'
  | 'setLeaseCallback' | 'acquireLease' | 'releaseLease' | 'guardLease' | 'guardLeaseSocket' | 'leaseUnacked'
  | 'leaseHeld' | 'getLease' | 'configureLeaseSignal'
  | 'addSink' | 'removeSink' | 'cancel' | 'configure' | 'engineStats' | 'capabilities'>;

/** A range of a regular file to an fd. */
export interface SendJob {
  outFd: number;
  inFd: number;
  offset: number;
  length: number;
  /** Bytes already moved (by the fast path): the job goes on from there. */
  sent: number;
  strategy: Strategy;
  path?: string;
  signal?: AbortSignal;
  onProgress?: (bytes: number) => void;
  /** Each chunk is written only while this lease is held (a 'copy' or 'mmap' transfer under a lease). */
  lease?: Lease;
  /** The open-file cache's map of the whole input (keepMapped): an 'mmap' transfer writes from it. */
  map?: number;
}

/** What a send moved: all of the range, by `strategy` (after a refusal, 'copy' with the refusal's reason). */
export interface Moved {
  bytes: number;
  strategy: Strategy;
  fallbackReason?: FallbackReason;
}

export interface CopyFileJob {
  outFd: number;
  inFd: number;
  offset: number;
  outOffset: number | bigint | null;
  length: number;
  path?: string;
  signal?: AbortSignal;
}

/** Something that happened to one sink of a broadcast. */
export interface SinkNotice {
  notice: 'sink-drop' | 'sink-error' | 'sink-removed' | 'sink-done';
  sinkId: number;
  bytes: number;
  error: SystemError | null;
}

/** What an engine job that reads a socket (relay, broadcast) ended with. */
export interface StreamJobResult {
  bytes: number;
  error: SystemError | null;
  truncated: boolean;
  fallbackReason: FallbackReason | null;
  /** Bytes taken from the input and not written, for its reader (a relay stopped by an error or a cancel). */
  unwritten: Buffer | null;
}

export interface RelayJob {
  outFd: number;
  inFd: number;
  outOffset: number | bigint | null;
  /** -1: until the input ends. */
  length: number;
  pipeSize: number;
  shutdownOnEof?: boolean;
  signal?: AbortSignal;
}

export interface BroadcastJob {
  inFd: number;
  sinkFds: number[];
  pipeSize: number;
  maxLag: number;
  signal?: AbortSignal;
  onNotice(notice: SinkNotice): void;
}

/** A file opened for direct I/O, as the kernel opened it. */
export interface OpenedDirect {
  fd: number;
  /** The fd is this file's own (close() closes it), not the caller's. */
  ownsFd: boolean;
  direct: boolean;
  reason: DirectReason | null;
  alignment: number;
  bufferAlignment: number;
}

/**
 * Direct I/O and page-cache residency: natively O_DIRECT and engine tasks; portably buffered fs calls that say
 * so ('no-binding'). Arguments arrive validated; errors are the typed ones direct.ts promises.
 */
export interface DirectKernel {
  /** The alignment alignedBuffer() gives by default. */
  readonly pageSize: number;
  /** Zero-filled, starting at a multiple of `alignment` where the kernel can learn an address. */
  alignedBuffer(size: number, alignment: number): Buffer;
  /** How many bytes past a multiple of `alignment` the view starts (native only: a portable file is never direct). */
  misalignment(view: ArrayBufferView, alignment: number): number;
  open(path: string, flags: number, mode: number): OpenedDirect;
  /** A new open file description for a caller's fd (portably, the caller's fd itself). */
  reopen(fd: number): OpenedDirect;
  /** Closes an fd open() or reopen() gave with `ownsFd`. */
  close(fd: number): void;
  /** Reads (or writes) the views in order from `position` until they are full or the file ends: bytes moved. */
  transferSync(fd: number, write: boolean, views: ArrayBufferView[], position: number | bigint, dropCache: boolean): number;
  /** transferSync off the JS thread; an abort rejects with AbortError carrying the bytes moved. */
  transfer(fd: number, write: boolean, views: ArrayBufferView[], position: number | bigint, dropCache: boolean,
    signal?: AbortSignal): Promise<number>;
  /** fdatasync, or fsync with `metadata`. */
  sync(fd: number, metadata: boolean, signal?: AbortSignal): Promise<void>;
  residency(fd: number, offset: number | bigint, length: number | null): Residency;
  /** False where nothing can be dropped or read ahead (portably). */
  evict(fd: number, offset: number | bigint, length: number | null): Promise<boolean>;
  prefetch(fd: number, offset: number | bigint, length: number | null): boolean;
}

export interface Kernel extends Calls {
  /** True for the addon. */
  readonly native: boolean;
  /** Why the addon is not in use (portable only). */
  readonly unavailableReason?: string;
  /** The strategies it runs; 'copy' always. */
  readonly strategies: readonly Strategy[];
  /** SIGRTMIN, where leases exist. */
  readonly leaseSignalBase?: number;
  /** A duplicate of `fd`, or undefined where the kernel cannot make one. */
  dup(fd: number): number | undefined;
  /**
   * Moves what the page cache and the output take right now on the JS thread (at most constants.fastPathMax),
   * or answers -1: not on the fast path. Throws the call's error; `refusal()` tells one that means "copy instead".
   * `head` (a response's headers) goes first, in the same segment as the range's first bytes, and counts in the
   * bytes moved; none of the range moves before all of it has.
   */
  sendFast(job: SendJob, head?: Uint8Array): number;
  /** '<strategy>-refused' when `err` is the kernel refusing these fds to that strategy (copy instead), else undefined. */
  refusal(err: unknown, strategy: Strategy): FallbackReason | undefined;
  /** Moves the rest of the range. Rejects with AbortError, ERR_FILE_TRUNCATED, ERR_LEASE_BROKEN or the error. */
  send(job: SendJob, started?: (jobId: number) => void): Promise<Moved>;
  /** File -> file (copy_file_range natively, falling back inside the engine); rejects as send() does. */
  copyFile(job: CopyFileJob): Promise<{ bytes: number; fallbackReason?: FallbackReason }>;
  /** Socket -> fd through a pipe (native only: the portable side relays with Node streams). */
  relay(job: RelayJob): Promise<StreamJobResult>;
  broadcast(job: BroadcastJob): { id: number; done: Promise<StreamJobResult> };
  /** An object, not a call: using it gives no ZEROCOPY_FALLBACK warning (direct I/O says 'no-binding' itself). */
  readonly direct: DirectKernel;
}
