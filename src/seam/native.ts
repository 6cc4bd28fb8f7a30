// The native kernel: the addon's calls as they are, and transfers on its engine threads (every strategy, the
// 'copy' one included), whose outcomes become the typed errors the public modules promise.
import type { NativeBinding } from '../binding';
import { runJob, startJob } from '../engine';
import { abortError, fileTruncated, leaseBroken, withBytes } from '../errors';
import { constants } from './constants';
import type { Kernel, SendJob } from './kernel';
import { nativeDirect } from './native-direct';
import type { FallbackReason } from './reasons';

export function nativeKernel(binding: NativeBinding): Kernel {
  /** The native lease a strategy whose bytes are copies checks per chunk (0: none). */
  const leaseId = (job: SendJob) => (job.strategy === 'copy' || job.strategy === 'mmap' ? job.lease?.nativeId ?? 0 : 0);
  // The refusals table is declared once, in C++ (each errno with why, in prose): a refused strategy copies instead.
  const refusals = new Set(binding.refusals.map((r) => r.errno));
  /**
   * What was written from a mapping stopped being the file's (native WriteFromMapping): a kept map's lease was given
   * up (ECANCELED), or the file shrank under what went (EFAULT). A truncation where the file is shorter now, else a
   * writer came: either way the response must be cut. Other errors pass as they are.
   */
  const mapUntrusted = (job: SendJob, err: unknown): unknown => {
    const { code, syscall, bytes } = err as { code?: string; syscall?: string; bytes?: number };
    if (bytes === undefined || !((code === 'ECANCELED' && syscall === 'lease') || code === 'EFAULT')) return err;
    const size = binding.regularSize(job.inFd);
    return code === 'EFAULT' || size < job.offset + job.length ? fileTruncated(bytes, job.length, job.path)
      : leaseBroken(bytes, job.length, job.path);
  };
  return {
    ...binding,
    native: true,
    strategies: binding.strategies,
    leaseSignalBase: binding.leaseSignalBase,
    dup: (fd) => binding.dup(fd),
    sendFast(job, head) {
      try {
        // From a kept map: one writev of head and body, its arguments by position (no members to look up by name).
        return job.map !== undefined && job.strategy === 'mmap' && !job.lease
          ? binding.sendKept(job.outFd, job.map, job.offset, Math.min(job.length, constants.fastPathMax), head)
          : binding.sendFast({ strategy: job.strategy, outFd: job.outFd, inFd: job.inFd, offset: job.offset,
            length: Math.min(job.length, constants.fastPathMax), leaseId: leaseId(job), head });
      } catch (err) {
        throw mapUntrusted(job, err);
      }
    },
    refusal: (err, strategy) => (strategy !== 'copy' && refusals.has((err as { errno?: number }).errno!)
      ? `${strategy}-refused` : undefined),
    async send(job) {
      let sent = job.sent;
      if (sent > 0) job.onProgress?.(sent);
      const started = startJob({
        kind: 'send', outFd: job.outFd, inFd: job.inFd, offset: job.offset + sent, length: job.length - sent,
        strategy: job.strategy, leaseId: leaseId(job), map: job.map,
      }, { signal: job.signal, onProgress: job.onProgress && ((bytes) => job.onProgress!(sent + bytes)) });
      // After a break the lease thread stops this job before it lets the writer go.
      job.lease?.guard(started.id);
      const result = await started.done;
      sent += result.bytes;
      if (result.error) {
        if (result.error.code === 'ECANCELED' && job.lease && !job.lease.held && !job.signal?.aborted) {
          throw leaseBroken(sent, job.length, job.path);
        }
        if (result.error.syscall === 'lease' && job.map !== undefined) {
          throw mapUntrusted(job, withBytes(result.error, sent));
        }
        if (result.error.code === 'ECANCELED') throw abortError(sent, job.signal);
        throw withBytes(result.error, sent);
      }
      if (result.truncated) throw fileTruncated(sent, job.length, job.path);
      // The engine names the strategy that moved the bytes: after a refusal, 'copy', with the refusal's reason.
      const reason = result.fallbackReason as FallbackReason | null;
      const strategy = result.strategy ?? job.strategy;
      return reason ? { bytes: sent, strategy, fallbackReason: reason } : { bytes: sent, strategy };
    },
    async copyFile(job) {
      const result = await runJob({ kind: 'copyFileRange', outFd: job.outFd, inFd: job.inFd, offset: job.offset,
        outOffset: job.outOffset, length: job.length }, { signal: job.signal });
      if (result.error) {
        if (result.error.code === 'ECANCELED') throw abortError(result.bytes, job.signal);
        throw withBytes(result.error, result.bytes);
      }
      if (result.truncated) throw fileTruncated(result.bytes, job.length, job.path);
      const reason = result.fallbackReason as FallbackReason | null;
      return reason ? { bytes: result.bytes, fallbackReason: reason } : { bytes: result.bytes };
    },
    async relay(job) {
      const result = await runJob({ kind: 'relay', outFd: job.outFd, inFd: job.inFd, outOffset: job.outOffset,
        length: job.length, pipeSize: job.pipeSize, shutdownOnEof: job.shutdownOnEof }, { signal: job.signal });
      return { ...result, fallbackReason: result.fallbackReason as FallbackReason | null };
    },
    broadcast(job) {
      const started = startJob({ kind: 'broadcast', outFd: job.inFd, inFd: job.inFd, length: -1,
        pipeSize: job.pipeSize, maxLag: job.maxLag, sinkFds: job.sinkFds },
      { signal: job.signal, onNotice: job.onNotice });
      return {
        id: started.id,
        done: started.done.then((r) => ({ ...r, fallbackReason: r.fallbackReason as FallbackReason | null })),
      };
    },
    direct: nativeDirect(binding),
  };
}
