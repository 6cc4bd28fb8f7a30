// Loads the native addon once. Everything else receives `binding` from here: null means "use the fallback",
// and `unavailableReason` says why (non-Linux, forced off, or the load error).
import * as path from 'node:path';
import { type SystemError, systemError } from './errors';

export interface NativeCapabilities {
  sendfile: boolean;
  splice: boolean;
  tee: boolean;
  vmsplice: boolean;
  copyFileRange: boolean;
  mmap: boolean;
  leases: boolean;
  reasons: Partial<Record<string, string>>;
}

type Offset = number | bigint | null;

/** direct_binding.cc: direct I/O and page-cache residency. */
export interface NativeDirect {
  /** `bounce`: a read's bytes, when its views were not alignedBuffer() memory (the task read into its own). */
  setDirectCallback(dispatcher: (job: number, bytes: number, error: SystemError | null, bounce?: Buffer) => void): void;
  openDirect(path: string, flags: number, mode: number): NativeDirectFile;
  reopenDirect(fd: number): NativeDirectFile;
  closeDirect(fd: number): void;
  directTransferSync(fd: number, write: boolean, views: ArrayBufferView[], position: number | bigint,
    dropCache: boolean): number;
  directTransfer(fd: number, write: boolean, views: ArrayBufferView[], position: number | bigint,
    dropCache: boolean): number;
  directSync(fd: number, metadata: boolean): number;
  /** Null where the runtime refuses external buffers (Electron). */
  alignedBuffer(size: number, alignment: number): Buffer | null;
  misalignment(view: ArrayBufferView, alignment: number): number;
  residency(fd: number, offset: number | bigint, length: number | null): { size: number; cached: number;
    dirty: number | null; writeback: number | null; method: 'cachestat' | 'mincore' };
  evict(fd: number, offset: number | bigint, length: number | null): void;
  prefetch(fd: number, offset: number | bigint, length: number | null): void;
}

export interface NativeDirectFile {
  fd: number;
  direct: boolean;
  reason: string | null;
  alignment: number;
  bufferAlignment: number;
}

export interface NativeBinding extends NativeDirect {
  setErrorFactory(factory: typeof systemError): void;
  capabilities(): NativeCapabilities;
  sendfile(outFd: number, inFd: number, offset: Offset, length: number): number;
  splice(fdIn: number, fdOut: number, length: number, offsetIn: Offset, offsetOut: Offset,
    move: boolean, more: boolean, nonBlock: boolean): number;
  tee(pipeIn: number, pipeOut: number, length: number, nonBlock: boolean): number;
  vmsplice(pipeWriteFd: number, data: ArrayBufferView | ArrayBufferView[], nonBlock: boolean): number;
  copyFileRange(fdIn: number, fdOut: number, length: number, offsetIn: Offset, offsetOut: Offset): number;
  createPipe(size: number, nonBlock: boolean): { readFd: number; writeFd: number; size: number };
  dup(fd: number): number;
  regularSize(fd: number): number;
  mayBlock(fd: number): boolean;
  ready(fd: number, forWrite: boolean): boolean;

  map(fd: number, offset: number | bigint, length: number, mode: string, populate: boolean, lock: boolean,
    advice: number): { buffer: Buffer; id: number } | null;
  unmap(id: number): void;
  msync(id: number, async: boolean, invalidate: boolean): void;
  madvise(id: number, advice: number, offset: number, length: number): void;
  mlock(id: number, on: boolean): void;
  readInto(id: number, target: ArrayBufferView, offset: number, length: number, targetOffset: number): number;
  truncated(id: number): boolean;
  mappedTruncated(views: ArrayBufferView[]): boolean;
  setTruncatedCallback(callback: (id: number) => void): void;
  madviseValues: Record<string, number>;
  pageSize: number;

  setEngineCallback(dispatcher: (job: number, done: boolean, bytes: number, fallbackBytes: number,
    error: SystemError | null, truncated: boolean, fallbackReason: string | null, notice: string | null,
    sinkId: number, unwritten: Buffer | null) => void): void;
  submit(kind: 'sendfile' | 'copyFileRange' | 'splice' | 'broadcast', outFd: number, inFd: number,
    offset: number | bigint | null, outOffset: number | bigint | null, length: number, progress: boolean,
    pipeSize: number, shutdownOnEof: boolean, maxLag: number, sinkFds: number[], copyUnderLease: number): number;
  addSink(job: number, fd: number): number;
  removeSink(job: number, sinkId: number): void;
  cancel(job: number): void;
  configure(engineThreads: number): boolean;
  engineStats(): { zeroCopyBytes: number; fallbackBytes: number; syscalls: number; eagainWaits: number;
    activeJobs: number; engineThreads: number; pooledPipes: number };
  sendfileFast(outFd: number, inFd: number, offset: number | bigint, length: number, copyUnderLease: number): number;
  /** The errnos (negative) with which a zero-copy call refuses a kind of fd: read/write takes over. */
  refusals: number[];

  setLeaseCallback(dispatcher: (id: number, event: 'break' | 'released', at: number) => void): void;
  acquireLease(fd: number, type: 'read' | 'write', hold: boolean, graceMs: number): number;
  releaseLease(id: number): void;
  guardLease(id: number, job: number): void;
  guardLeaseSocket(id: number, socketFd: number): void;
  leaseUnacked(id: number): number;
  leaseHeld(id: number): boolean;
  getLease(fd: number): 'read' | 'write' | 'none';
  configureLeaseSignal(offset: number): boolean;
  leaseSignalBase: number;

  openBeneath(dirFd: number, path: string): number;
  setCork(socketFd: number, on: boolean): boolean;
}

function load(): { binding: NativeBinding | null; reason?: string } {
  if (forced) {
    return { binding: null, reason: 'forced off by ZEROCOPY_FORCE_FALLBACK=1' };
  }
  if (process.platform !== 'linux') {
    return { binding: null, reason: `platform ${process.platform} has no Linux zero-copy syscalls` };
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const loaded = require('node-gyp-build')(path.join(__dirname, '..')) as NativeBinding & {
      unsupportedPlatform?: boolean;
    };
    if (loaded.unsupportedPlatform) return { binding: null, reason: 'the addon was built without Linux support' };
    loaded.setErrorFactory(systemError);
    return { binding: loaded };
  } catch (err) {
    const message = (err as Error).message;
    // node-gyp-build's "No native build was found for platform=linux arch=x64 ... libc=glibc ..." (the install
    // found no prebuild and could not compile) is the common case: say it plainly.
    const cause = message.startsWith('No native build was found')
      ? `no prebuilt addon for ${process.platform}-${process.arch} and no local build`
      : `the native addon failed to load (${message.split('\n')[0]})`;
    return { binding: null, reason: `${cause}; every call uses read/write. To fix it, ${FIX}` };
  }
}

/** How to get zero-copy back where the addon did not load (the install script says the same). */
const FIX = 'install a C++ toolchain (python3, make, g++) and run `npm rebuild zerocopy`';

/** The fallback chosen on purpose, for tests and comparisons: not an accident worth a warning. */
const forced = process.env.ZEROCOPY_FORCE_FALLBACK === '1';

const loaded = load();

// For servers that must not run slow by accident: no addon, no import.
if (process.env.ZEROCOPY_REQUIRE_NATIVE === '1' && !loaded.binding) {
  const err = new Error(`zerocopy: ZEROCOPY_REQUIRE_NATIVE=1 but the native addon is not in use: ${loaded.reason}`);
  throw Object.assign(err, { code: 'ERR_ZEROCOPY_NATIVE_REQUIRED' });
}

export const binding: NativeBinding | null = loaded.binding;
export const unavailableReason: string | undefined = loaded.reason;
export const fallbackForced: boolean = forced;
