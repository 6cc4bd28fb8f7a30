// The 'copy' strategy in JavaScript, written once: read a chunk, write it, in order. It stands in wherever the
// kernel cannot move the bytes (no addon, TLS, a socket without an fd, a refusal, an input that is not a file)
// and keeps the promises of every other strategy: a file that shrinks ends as ERR_FILE_TRUNCATED, never as
// success, and under a lease no chunk read after a break is written.
import * as fs from 'node:fs';
import { abortError, fileTruncated, leaseBroken, withBytes } from '../errors';
import type { Lease } from '../lease';
import { type Position, advance, readWaiting, writeWaiting } from '../nonblocking';
import { countFallbackBytes } from '../stats';
import { constants } from './constants';

export interface CopyJob {
  inFd: number;
  /** Where the range starts in a regular file; null: the input is read as it comes (a pipe, a device). */
  offset: number | null;
  length: number;
  /** Bytes of the range already moved (by a fast path): the copy goes on from there. */
  sent?: number;
  path?: string;
  signal?: AbortSignal;
  /** Called with the bytes moved so far, after each chunk but the last. */
  onProgress?: (bytes: number) => void;
  lease?: Lease;
}

/**
 * Writes one chunk (`done`: the job's bytes before it). A failure may carry `bytes`: how much of the chunk the
 * destination took.
 */
export type Writer = (chunk: Buffer, done: number) => Promise<void>;

/** Copies the job's range through `write`; resolves with the bytes moved (the whole range). */
export async function copyRange(job: CopyJob, write: Writer): Promise<number> {
  let sent = job.sent ?? 0;
  const regular = job.offset !== null;
  const leaseGone = () => job.lease !== undefined && !job.lease.held;
  while (sent < job.length) {
    if (job.signal?.aborted) throw abortError(sent, job.signal);
    // No job the lease thread could stop: the loop stops at the first chunk after a break.
    if (job.lease?.broken) throw leaseBroken(sent, job.length, job.path);
    const chunk = Buffer.allocUnsafe(Math.min(constants.copyChunk, job.length - sent));
    let n: number;
    try {
      n = (await readWaiting(job.inFd, chunk, 0, chunk.length, regular ? job.offset! + sent : null, job.signal)).bytesRead;
    } catch (err) {
      throw withBytes(err as Error, sent);
    }
    // Given up natively while we read (JS hears of it later): the chunk may hold a writer's bytes.
    if (leaseGone()) throw leaseBroken(sent, job.length, job.path);
    if (n === 0) throw fileTruncated(sent, job.length, job.path);
    try {
      await write(chunk.subarray(0, n), sent);
    } catch (err) {
      throw withBytes(err as Error, sent + ((err as { bytes?: number }).bytes ?? 0));
    }
    sent += n;
    countFallbackBytes(n);
    if (sent < job.length) job.onProgress?.(sent);
  }
  if (regular && fs.fstatSync(job.inFd).size < job.offset! + job.length) throw fileTruncated(sent, job.length, job.path);
  return sent;
}

/** A Writer to an fd: at `position` + the bytes before (null: at the fd's own position), waiting out EAGAIN. */
export function fdWriter(fd: number, position: Position, signal?: AbortSignal): Writer {
  return async (chunk, done) => {
    for (let w = 0; w < chunk.length;) {
      try {
        w += (await writeWaiting(fd, chunk, w, chunk.length - w, advance(position, done + w), signal)).bytesWritten;
      } catch (err) {
        throw withBytes(err as Error, w);
      }
    }
  };
}
