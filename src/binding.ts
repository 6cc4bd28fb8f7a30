// Loads the native addon once. Everything else receives `binding` from here: null means "use the fallback",
// and `unavailableReason` says why (non-Linux, forced off, or the load error).
import * as fs from 'node:fs';
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
  /** A task's job id (it writes dirty pages back: that waits for the device). */
  evict(fd: number, offset: number | bigint, length: number | null): number;
  prefetch(fd: number, offset: number | bigint, length: number | null): void;
}

export interface NativeDirectFile {
  fd: number;
  direct: boolean;
  reason: string | null;
  alignment: number;
  bufferAlignment: number;
}


/** A job on the engine threads: 'send' = a regular file -> any fd; 'relay' = a socket or pipe -> any fd. */
export type JobKind = 'send' | 'copyFileRange' | 'relay' | 'broadcast';
/** How a 'send' job moves bytes. */
export type Strategy = 'sendfile' | 'splice' | 'mmap' | 'copy';

export interface JobSpec {
  kind: JobKind;
  outFd: number;
  inFd: number;
  offset?: Offset;
  outOffset?: Offset;
  /** -1: until the input ends ('relay', 'broadcast'). */
  length: number;
  /** 'send' only; default 'sendfile'. */
  strategy?: Strategy;
  progress?: boolean;
  pipeSize?: number;
  shutdownOnEof?: boolean;
  maxLag?: number;
  sinkFds?: number[];
  /** A native lease id: each chunk is written only while it is held (a copying strategy: 'copy' or 'mmap'). */
  leaseId?: number;
  /** 'send' by 'mmap': the open-file cache's map of the whole input (keepMapped), used in place of windows. */
  map?: number;
}

export interface FastSpec {
  strategy: Strategy;
  outFd: number;
  inFd: number;
  offset: number | bigint;
  length: number;
  leaseId?: number;
  /** Bytes sent before the range, in the same segment (a response's headers). */
  head?: Uint8Array;
}

/** An errno (negative) with which a zero-copy call refuses a kind of fd: read/write takes over. */
export interface Refusal {
  errno: number;
  code: string;
  reason: string;
}

/** The constants both sides of the boundary use, defined once in native/constants.json. */
export interface SharedConstants {
  /** The most sendFast moves per call on the JS thread. */
  fastPathMax: number;
  /** Bytes per zero-copy call. */
  chunk: number;
  /** A read/write loop's buffer. */
  copyChunk: number;
  /** A job's pipe when none was asked for. */
  defaultPipeSize: number;
  /** Lease breaks arrive as SIGRTMIN + this. */
  leaseSignalOffset: number;
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
    error: SystemError | null, truncated: boolean, fallbackReason: string | null, strategy: Strategy | null,
    notice: string | null, sinkId: number, unwritten: Buffer | null) => void): void;
  /** Starts a job; C++ reads every member by name (an unknown kind or strategy is a TypeError). */
  submit(spec: JobSpec): number;
  addSink(job: number, fd: number): number;
  removeSink(job: number, sinkId: number): void;
  cancel(job: number): void;
  configure(engineThreads: number): boolean;
  engineStats(): { zeroCopyBytes: number; fallbackBytes: number; syscalls: number; eagainWaits: number;
    activeJobs: number; engineThreads: number; pooledPipes: number };
  /**
   * Bytes moved now on the JS thread (a page-cached range, non-blocking, at most constants.fastPathMax), or -1:
   * not for the fast path (uncached, or a strategy it does not run on the JS thread).
   */
  sendFast(spec: FastSpec): number;
  refusals: Refusal[];
  /** Every fallbackReason the engine reports (the closed set, declared in native/engine.h). */
  fallbackReasons: string[];
  jobKinds: JobKind[];
  strategies: Strategy[];
  constants: SharedConstants;

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
  watchOpen(): number;
  watchMounts(): number;
  /** A watch of a directory, or (`file`) of a file's attributes (through any of its names). */
  watchAdd(fd: number, path: string, file?: boolean): number;
  watchRemove(fd: number, wd: number): boolean;
  /** An epoll fd over the inotify fd and the mount table's (they stay open while it is used): one look at both. */
  watchPoll(fd: number, mountsFd: number): number;
  watchDrain(pollFd: number, fd: number): WatchEvent[] | null;
  /**
   * 1: no watch event queued; 0: events are (watchDrain reads them); -1: the mount table changed (this call took
   * that news).
   */
  watchQuiet(pollFd: number): -1 | 0 | 1;
  /** `fd` is closed when this environment (a Worker's, or the main thread's) ends, unless closeEnvFd closes it. */
  envFd(fd: number): void;
  closeEnvFd(fd: number): void;
  /** How many fds given to envFd are open, across every environment of the process. */
  envFds(): number;
  /**
   * The open-file cache's map of [0, length) of a kept file, trusted while lease `leaseId` is held
   * (native/kept_map.h): its id.
   */
  keepMapped(fd: number, length: number, leaseId: number): number;
  /** The cache lets map `id` go (before closing its fd); engine jobs using it keep it until they end. */
  dropMapped(id: number): void;
  /**
   * Writes [offset, offset + length) of kept map `id` (`head` first, in the same writev) on the JS thread: the
   * bytes written, head included; -1 when not for the fast path (the map is gone, the range not page-cached).
   * Throws ECANCELED (syscall 'lease', `bytes`: the body bytes that went) where the cache's lease was given up.
   */
  sendKept(outFd: number, id: number, offset: number, length: number, head?: Uint8Array): number;
}

/** A change in a watched directory: `name` in it ('' for the directory itself); `gone`: the watch ended. wd -1:
 * events were lost (the queue overflowed) or the mount table changed. */
export interface WatchEvent {
  wd: number;
  name: string;
  gone: boolean;
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
    const nodeGypBuild = require('node-gyp-build') as { (dir: string): unknown; resolve(dir: string): string };
    const dir = path.join(__dirname, '..');
    // dlopen of a truncated file kills the process (SIGBUS when it touches a page past the end): check it first.
    const file = nodeGypBuild.resolve(dir);
    const damage = elfDamage(file);
    if (damage !== undefined) {
      return { binding: null, reason: `the native addon ${file} is damaged (${damage}); every call uses read/write. ` +
        `To fix it, reinstall zerocopy, or ${FIX}` };
    }
    const loaded = nodeGypBuild(dir) as NativeBinding & { unsupportedPlatform?: boolean };
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

/**
 * Why `file` is not a whole ELF object, or undefined: its program headers' contents and its section header table
 * must lie within the file, as a file cut short by a failed download or a full disk does not.
 */
function elfDamage(file: string): string | undefined {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const read = (offset: number, length: number) => {
      const buffer = Buffer.alloc(length);
      return fs.readSync(fd, buffer, 0, length, offset) === length ? buffer : undefined;
    };
    const ident = read(0, 16);
    if (ident === undefined || ident.readUInt32BE(0) !== 0x7f454c46) return 'not an ELF file';
    const wide = ident[4] === 2;
    const header = read(0, wide ? 64 : 52)!;
    const little = ident[5] === 1;
    const half = (b: Buffer, at: number) => (little ? b.readUInt16LE(at) : b.readUInt16BE(at));
    const word = (b: Buffer, at: number) => (little ? b.readUInt32LE(at) : b.readUInt32BE(at));
    const addr = (b: Buffer, at: number) =>
      (wide ? Number(little ? b.readBigUInt64LE(at) : b.readBigUInt64BE(at)) : word(b, at));
    const [phoff, shoff] = wide ? [addr(header, 0x20), addr(header, 0x28)] : [addr(header, 0x1c), addr(header, 0x20)];
    const at = wide ? 0x36 : 0x2a;
    const [phentsize, phnum, shentsize, shnum] = [half(header, at), half(header, at + 2), half(header, at + 4), half(header, at + 6)];
    const truncated = (needed: number) => `truncated: ${size} bytes where its ELF headers need ${needed}`;
    if (shoff + shnum * shentsize > size) return truncated(shoff + shnum * shentsize);
    const table = read(phoff, phnum * phentsize);
    if (table === undefined) return truncated(phoff + phnum * phentsize);
    for (let i = 0; i < phnum; i++) {
      const entry = i * phentsize;
      const end = wide ? addr(table, entry + 8) + addr(table, entry + 0x20) : addr(table, entry + 4) + addr(table, entry + 0x10);
      if (end > size) return truncated(end);
    }
    return undefined;
  } finally {
    fs.closeSync(fd);
  }
}

/** How to get zero-copy back where the addon did not load (the install script says the same). */
const FIX = 'install a C++ toolchain (python3, make, g++) and run `npm rebuild zerocopy`';

/** The fallback chosen on purpose, for tests and comparisons: not an accident worth a warning. */
const forced = process.env.ZEROCOPY_FORCE_FALLBACK === '1';

const loaded = load();

// For servers that must not run slow by accident: no addon, no import. Any value but unset, '', '0' and 'false' is
// on, as `=yes` or `=true` means it.
const requireNative = process.env.ZEROCOPY_REQUIRE_NATIVE;
if (!['', '0', 'false', undefined].includes(requireNative) && !loaded.binding) {
  const err = new Error(`zerocopy: ZEROCOPY_REQUIRE_NATIVE=${requireNative} but the native addon is not in use: ${loaded.reason}`);
  throw Object.assign(err, { code: 'ERR_ZEROCOPY_NATIVE_REQUIRED' });
}

export const binding: NativeBinding | null = loaded.binding;
/** The shared constants, also without the addon (the fallback reads the same definitions). */
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const constants: SharedConstants = loaded.binding?.constants ?? require('../native/constants.json');
export const unavailableReason: string | undefined = loaded.reason;
export const fallbackForced: boolean = forced;
