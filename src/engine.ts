// Jobs on the native engine threads, as promises: one dispatcher receives every job event of this thread.
import { binding } from './binding';
import type { SystemError } from './errors';

export interface JobResult {
  /** Bytes moved (all of them, for a complete job). */
  bytes: number;
  /** Of which moved by read/write after the zero-copy call refused. */
  fallbackBytes: number;
  error: SystemError | null;
  /** The input ended before its promised end: the file shrank under the transfer. */
  truncated: boolean;
  fallbackReason: string | null;
  /**
   * 'splice' jobs stopped by an error or a cancel while their input was still good: the bytes taken from the
   * input and not written, in order, for the caller to give back to the input's reader. Null otherwise.
   */
  unwritten: Buffer | null;
}

export interface JobOptions {
  signal?: AbortSignal;
  onProgress?: (bytes: number) => void;
  /** 'splice' jobs: the pipe's capacity (0: 1 MiB). */
  pipeSize?: number;
  /** 'splice' jobs: shutdown(SHUT_WR) the output when the input ends. */
  shutdownOnEof?: boolean;
  /** 'broadcast' jobs: drop a sink further behind than this many bytes. */
  maxLag?: number;
  /** 'broadcast' jobs: the sinks it starts with, numbered 1..n in this order. */
  sinkFds?: number[];
  onNotice?: (notice: SinkNotice) => void;
  /**
   * 'sendfile' jobs under this lease (its native id): read/write from the start, so that the destination holds
   * copies (a lease's 'copy' path), and a chunk read after the lease was given up is never written (ECANCELED).
   */
  copyUnderLease?: number;
}

/** Something that happened to one sink of a broadcast job. */
export interface SinkNotice {
  notice: 'sink-drop' | 'sink-error' | 'sink-removed' | 'sink-done';
  sinkId: number;
  bytes: number;
  error: SystemError | null;
}

interface Pending {
  resolve(result: JobResult): void;
  onProgress?: (bytes: number) => void;
  onNotice?: (notice: SinkNotice) => void;
}

const pending = new Map<number, Pending>();

binding?.setEngineCallback((job, done, bytes, fallbackBytes, error, truncated, fallbackReason, notice, sinkId,
  unwritten) => {
  const p = pending.get(job);
  if (!p) return;
  if (notice) {
    p.onNotice?.({ notice: notice as SinkNotice['notice'], sinkId, bytes, error });
    return;
  }
  if (!done) {
    p.onProgress?.(bytes);
    return;
  }
  pending.delete(job);
  p.resolve({ bytes, fallbackBytes, error, truncated, fallbackReason, unwritten });
});

/**
 * Runs a transfer on the engine. It resolves with what happened (it rejects only when the job cannot start);
 * an abort cancels the job, which then completes with ECANCELED and the bytes moved so far.
 * `length` -1 runs a 'splice' job until its input ends.
 */
export function runJob(kind: 'sendfile' | 'copyFileRange' | 'splice', outFd: number, inFd: number,
  offset: number | bigint | null, outOffset: number | bigint | null, length: number,
  options: JobOptions = {}): Promise<JobResult> {
  return new Promise((resolve) => resolve(startJob(kind, outFd, inFd, offset, outOffset, length, options).done));
}

/** Starts a job and hands out its id (for cancel, addSink, removeSink) with its completion. */
export function startJob(kind: 'sendfile' | 'copyFileRange' | 'splice' | 'broadcast', outFd: number, inFd: number,
  offset: number | bigint | null, outOffset: number | bigint | null, length: number,
  options: JobOptions = {}): { id: number; done: Promise<JobResult> } {
  const { signal, onProgress, onNotice } = options;
  const id = binding!.submit(kind, outFd, inFd, offset, outOffset, length, onProgress !== undefined,
    options.pipeSize ?? 0, options.shutdownOnEof ?? false, options.maxLag ?? 0, options.sinkFds ?? [], options.copyUnderLease ?? 0);
  const done = new Promise<JobResult>((resolve) => {
    const cancel = () => binding!.cancel(id);
    signal?.addEventListener('abort', cancel, { once: true });
    pending.set(id, {
      onProgress,
      onNotice,
      resolve(result) {
        signal?.removeEventListener('abort', cancel);
        resolve(result);
      },
    });
  });
  return { id, done };
}
