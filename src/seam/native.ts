// The native kernel: the addon's calls as they are, and transfers on its engine threads, whose outcomes become
// the typed errors the public modules promise.
import type { NativeBinding } from '../binding';
import { runJob, startJob } from '../engine';
import { abortError, fileTruncated, leaseBroken, withBytes } from '../errors';
import { copyRange, fdWriter } from './copy-loop';
import type { Kernel, SendJob } from './kernel';
import { type FallbackReason, type Strategy } from './reasons';

export function nativeKernel(binding: NativeBinding): Kernel {
  const strategies: readonly Strategy[] = ['sendfile', 'copy'];
  /** The native lease a copying strategy checks per chunk (0: none). */
  const leaseId = (job: SendJob) => (job.strategy === 'copy' ? job.lease?.nativeId ?? 0 : 0);
  return {
    ...binding,
    native: true,
    strategies,
    leaseSignalBase: binding.leaseSignalBase,
    dup: (fd) => binding.dup(fd),
    sendFast(job) {
      if (job.strategy !== 'sendfile' && leaseId(job) === 0) return -1;
      return binding.sendfileFast(job.outFd, job.inFd, job.offset, Math.min(job.length, 4 << 20), leaseId(job));
    },
    refusal(err) {
      return binding.refusals.includes((err as { errno?: number }).errno!) ? 'sendfile-refused' : undefined;
    },
    async send(job) {
      if (job.strategy === 'copy' && leaseId(job) === 0) {
        return { bytes: await copyRange(job, fdWriter(job.outFd, null, job.signal)), strategy: 'copy' };
      }
      let sent = job.sent;
      if (sent > 0) job.onProgress?.(sent);
      const started = startJob('sendfile', job.outFd, job.inFd, job.offset + sent, null, job.length - sent, {
        signal: job.signal,
        onProgress: job.onProgress && ((bytes) => job.onProgress!(sent + bytes)),
        copyUnderLease: leaseId(job),
      });
      // After a break the lease thread stops this job before it lets the writer go.
      job.lease?.guard(started.id);
      const result = await started.done;
      sent += result.bytes;
      if (result.error) {
        if (result.error.code === 'ECANCELED' && job.lease && !job.lease.held && !job.signal?.aborted) {
          throw leaseBroken(sent, job.length, job.path);
        }
        if (result.error.code === 'ECANCELED') throw abortError(sent, job.signal);
        throw withBytes(result.error, sent);
      }
      if (result.truncated) throw fileTruncated(sent, job.length, job.path);
      const reason = result.fallbackReason as FallbackReason | null;
      if (result.fallbackBytes > 0 && reason) return { bytes: sent, strategy: 'copy', fallbackReason: reason };
      return { bytes: sent, strategy: job.strategy };
    },
    async copyFile(job) {
      const result = await runJob('copyFileRange', job.outFd, job.inFd, job.offset, job.outOffset, job.length,
        { signal: job.signal });
      if (result.error) {
        if (result.error.code === 'ECANCELED') throw abortError(result.bytes, job.signal);
        throw withBytes(result.error, result.bytes);
      }
      if (result.truncated) throw fileTruncated(result.bytes, job.length, job.path);
      const reason = result.fallbackReason as FallbackReason | null;
      return reason ? { bytes: result.bytes, fallbackReason: reason } : { bytes: result.bytes };
    },
    async relay(job) {
      const result = await runJob('splice', job.outFd, job.inFd, null, job.outOffset, job.length, {
        signal: job.signal, pipeSize: job.pipeSize, shutdownOnEof: job.shutdownOnEof,
      });
      return { ...result, fallbackReason: result.fallbackReason as FallbackReason | null };
    },
    broadcast(job) {
      const started = startJob('broadcast', job.inFd, job.inFd, null, null, -1, {
        signal: job.signal, pipeSize: job.pipeSize, maxLag: job.maxLag, onNotice: job.onNotice, sinkFds: job.sinkFds,
      });
      return {
        id: started.id,
        done: started.done.then((r) => ({ ...r, fallbackReason: r.fallbackReason as FallbackReason | null })),
      };
    },
  };
}
