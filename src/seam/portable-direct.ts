// Direct I/O without the addon: buffered fs reads and writes (`direct: false`, 'no-binding') with the native
// side's refusals, in chunks with an abort seen between two; residency without a cached count, no advice.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { abortError, asSyscallError, systemError, unsupported, withBytes } from '../errors';
import type { DirectKernel, OpenedDirect } from './kernel';

// A read or write moves this much per call, with an abort seen between two (as natively).
const FALLBACK_CHUNK = 8 << 20;

export function portableDirect(unavailableReason: string): DirectKernel {
  const opened = (fd: number, ownsFd: boolean): OpenedDirect =>
    ({ fd, ownsFd, direct: false, reason: 'no-binding', alignment: 1, bufferAlignment: 1 });
  return {
    pageSize: 4096,
    // Nothing can learn an address, and nothing needs one (I/O is buffered).
    alignedBuffer: (size) => Buffer.alloc(size),
    misalignment() {
      throw unsupported('misalignment', unavailableReason);
    },
    open(path, flags, mode) {
      // As natively: an existing path of the wrong kind is refused before the open acts on it; O_NONBLOCK so that
      // a FIFO swapped in meanwhile cannot block the open.
      const existing = fs.statSync(path, { throwIfNoEntry: false });
      const early = existing && !existing.isDirectory() ? kindRefusal(existing) : undefined;
      if (early !== undefined) throw systemError(early, 'open', path);
      const fd = fs.openSync(path, flags | fs.constants.O_NONBLOCK, mode);
      const refusal = fdKindRefusal(fd);
      if (refusal !== undefined) {
        fs.closeSync(fd);
        throw systemError(refusal, 'open', path);
      }
      return opened(fd, true);
    },
    reopen(fd) {
      const refusal = fdKindRefusal(fd);
      if (refusal !== undefined) throw systemError(refusal, 'open');
      return opened(fd, false);
    },
    close: (fd) => fs.closeSync(fd),
    transferSync(fd, write, views, position) {
      const walk = pieces(views, position, Infinity);
      for (let step = walk.next(0); ; ) {
        if (step.done) return step.value;
        const p = step.value;
        try {
          step = walk.next(write ? fs.writeSync(fd, p.bytes, p.offset, p.length, p.position)
            : fs.readSync(fd, p.bytes, p.offset, p.length, p.position));
        } catch (err) {
          throw withBytes(asSyscallError(err, write ? 'pwritev' : 'preadv') as Error, p.moved);
        }
      }
    },
    async transfer(fd, write, views, position, _dropCache, signal) {
      const walk = pieces(views, position, FALLBACK_CHUNK);
      for (let step = walk.next(0); ; ) {
        if (step.done) return step.value;
        const p = step.value;
        if (signal?.aborted) throw abortError(p.moved, signal);
        try {
          step = walk.next(await new Promise<number>((resolve, reject) => {
            const cb = (err: Error | null, count: number) => (err ? reject(err) : resolve(count));
            if (write) fs.write(fd, p.bytes, p.offset, p.length, p.position, cb);
            else fs.read(fd, p.bytes, p.offset, p.length, p.position, cb);
          }));
        } catch (err) {
          throw withBytes(asSyscallError(err, write ? 'pwritev' : 'preadv') as Error, p.moved);
        }
      }
    },
    sync(fd, metadata) {
      const syscall = metadata ? 'fsync' : 'fdatasync';
      return new Promise<void>((resolve, reject) => {
        const done = (err: Error | null) => (err ? reject(asSyscallError(err, syscall)) : resolve());
        if (metadata) fs.fsync(fd, done);
        else fs.fdatasync(fd, done);
      });
    },
    residency(fd, offset, length) {
      const size = cachedKind(fd).size;
      const end = length === null ? size : Math.min(size, Number(offset) + length);
      return { size: Math.max(0, end - Number(offset)), cached: null, dirty: null, writeback: null, method: null,
        reason: 'no-binding' };
    },
    // No advice can be given: false, for a target the native call would take.
    evict: async (fd) => cannotAdvise(fd),
    prefetch: (fd) => cannotAdvise(fd),
  };
}

/**
 * What the native open refuses: a directory (EISDIR), anything that is not a regular file or a block device
 * (ESPIPE: a FIFO or socket answers a positional read so, a character device's read may never end); a closed fd
 * (EBADF).
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

/** What the native calls refuse: only files and block devices have a page cache. */
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

function cannotAdvise(fd: number): false {
  cachedKind(fd);
  return false;
}

/** One read or write of the loop over a list of views, with the bytes moved before it. */
interface Piece {
  bytes: Buffer;
  offset: number;
  length: number;
  position: number;
  moved: number;
}

/**
 * The walk over views from a file position, at most `chunk` bytes a call: it yields each call to make and takes
 * the count the call moved, ending (with the total) at the views' end or at a count of 0 (end of file).
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
