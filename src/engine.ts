// Jobs on the native engine threads, as promises: one dispatcher receives every job event of this thread.
import { type JobSpec, type Strategy, binding } from './binding';
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
  /** 'send' jobs: the strategy that moved the bytes (after a refusal, 'copy'). Null for other kinds. */
  strategy: Strategy | null;
  /**
   * 'relay' jobs stopped by an error or a cancel while their input was still good: the bytes taken from the
   * input and not written, in order, for the caller to give back to the input's reader. Null otherwise.
   */
  unwritten: Buffer | null;
}

/** How JS follows a job; what the job does is its JobSpec. */
export interface JobOptions {
  signal?: AbortSignal;
  /** Asks the job for progress reports. */
  onProgress?: (bytes: number) => void;
  onNotice?: (notice: SinkNotice) => void;
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

binding?.setEngineCallback((job, done, bytes, fallbackBytes, error, truncated, fallbackReason, strategy, notice,
  sinkId, unwritten) => {
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
  p.resolve({ bytes, fallbackBytes, error, truncated, fallbackReason, strategy, unwritten });
});

/**
 * Runs a transfer on the engine. It resolves with what happened (it rejects only when the job cannot start);
 * an abort cancels the job, which then completes with ECANCELED and the bytes moved so far.
 */
export function runJob(spec: JobSpec, options: JobOptions = {}): Promise<JobResult> {
  return new Promise((resolve) => resolve(startJob(spec, options).done));
}

/** Starts a job and hands out its id (for cancel, addSink, removeSink) with its completion. */
export function startJob(spec: JobSpec, options: JobOptions = {}): { id: number; done: Promise<JobResult> } {
  const { signal, onProgress, onNotice } = options;
  const id = binding!.submit({ ...spec, progress: onProgress !== undefined });
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
