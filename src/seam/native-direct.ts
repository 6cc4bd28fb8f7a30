// Direct I/O on the addon: O_DIRECT opens, reads and writes as tasks on the engine threads (each settled through
// one completion dispatcher), and residency, eviction and read-ahead by the kernel's own calls.
import type { NativeBinding } from '../binding';
import type { DirectReason, Residency } from '../direct';
import { type SystemError, abortError, withBytes } from '../errors';
import type { DirectKernel, OpenedDirect } from './kernel';

interface Pending {
  /** The views a read goes to, with their lengths when it started: the bytes of a bounced read are copied there. */
  views: ArrayBufferView[];
  lengths: number[];
  resolve(bytes: number): void;
  reject(err: SystemError): void;
}

export function nativeDirect(binding: NativeBinding): DirectKernel {
  const pending = new Map<number, Pending>();
  binding.setDirectCallback((job, bytes, error, bounce) => {
    const p = pending.get(job);
    if (!p) return;
    pending.delete(job);
    if (bounce) copyOut(bounce, p.views, p.lengths);
    if (error) p.reject(withBytes(error, bytes));
    else p.resolve(bytes);
  });

  /** Runs a started engine task to its end; an abort cancels it (see DirectIoOptions.signal). */
  const awaitTask = (start: () => number, signal: AbortSignal | undefined, views: ArrayBufferView[]) =>
    new Promise<number>((resolve, reject) => {
      const id = start();
      const cancel = () => binding.cancel(id);
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

  const opened = (o: ReturnType<NativeBinding['openDirect']>): OpenedDirect =>
    ({ ...o, reason: o.reason as DirectReason | null, ownsFd: true });

  return {
    pageSize: binding.pageSize,
    alignedBuffer(size, alignment) {
      const external = binding.alignedBuffer(size, alignment);
      if (external) return external;
      // The runtime refuses external memory (Electron): a larger ordinary Buffer, sliced at an aligned address.
      const spare = Buffer.alloc(size + alignment);
      const skip = (alignment - binding.misalignment(spare, alignment)) % alignment;
      return spare.subarray(skip, skip + size);
    },
    misalignment: (view, alignment) => binding.misalignment(view, alignment),
    open: (path, flags, mode) => opened(binding.openDirect(path, flags, mode)),
    reopen: (fd) => opened(binding.reopenDirect(fd)),
    close: (fd) => binding.closeDirect(fd),
    transferSync: (fd, write, views, position, dropCache) =>
      binding.directTransferSync(fd, write, views, position, dropCache),
    transfer: (fd, write, views, position, dropCache, signal) =>
      awaitTask(() => binding.directTransfer(fd, write, views, position, dropCache), signal, views),
    async sync(fd, metadata, signal) {
      await awaitTask(() => binding.directSync(fd, metadata), signal, []);
    },
    residency: (fd, offset, length) => binding.residency(fd, offset, length) as Residency,
    async evict(fd, offset, length) {
      await awaitTask(() => binding.evict(fd, offset, length), undefined, []);
      return true;
    },
    prefetch(fd, offset, length) {
      binding.prefetch(fd, offset, length);
      return true;
    },
  };
}

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
