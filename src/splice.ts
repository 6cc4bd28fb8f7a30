// splice in practice: a socket proxy and uploads straight to disk, each socket -> pipe -> fd on the engine
// threads so the data never enters user space. TLS sockets and a missing binding take stream fallbacks with the
// same result shapes.
import * as fs from 'node:fs';
import * as net from 'node:net';
import type { FileHandle } from 'node:fs/promises';
import {
  type SystemError,
  abortError,
  invalidArgType,
  invalidArgValue,
  outOfRange,
  validateFd,
  validateLength,
  validateOffset,
  validateOptions,
  validateSignal,
  withBytes,
} from './errors';
import { type OwnedFd, handleFd, isFileHandle, openPathSync, ownFd, requireWritable } from './fds';
import { advance, writeWaiting } from './nonblocking';
import { type FallbackReason, type StreamJobResult, kernel, streamReason } from './seam';
import { enqueueTransfer } from './socket-queue';
import { prematureClose, readRefusal, socketFd, writeRefusal, writeThrough } from './sockets';
import { restoreFlowing, takeInput } from './socket-reading';
import { countFallback, countFallbackBytes, tracked } from './stats';

export interface ProxyOptions {
  /** Capacity of each direction's pipe (F_SETPIPE_SZ). Default 1 MiB. */
  pipeSize?: number;
  signal?: AbortSignal;
}

export interface ProxyResult {
  aToB: number;
  bToA: number;
}

export interface ReceiveFileOptions {
  /** Exactly this many bytes, leaving the socket usable for what follows; default: until the peer ends. */
  length?: number;
  /** Where to write in the file. Default: its start for a path, the fd's position for an fd. */
  offset?: number | bigint;
  pipeSize?: number;
  signal?: AbortSignal;
}

// receiveFile's fallback reads at most this far ahead of what it has written.
const RECEIVE_AHEAD = 1 << 20;

function validateSocket(value: unknown, name: string): net.Socket {
  if (!(value instanceof net.Socket)) throw invalidArgType(name, 'an instance of net.Socket', value);
  return value;
}

function validatePipeSize(value: unknown): number {
  if (value === undefined) return 0;
  const size = validateLength(value, 'options.pipeSize');
  if (size < 1 || size > 2 ** 31 - 1) throw outOfRange('options.pipeSize', '>= 1 && <= 2147483647', size);
  return size;
}

/**
 * Relays two sockets in both directions until both have ended, then destroys them. Half-close is kept: when one
 * side ends, the other is shut down for writing and the relay goes on the other way. Resolves with the bytes
 * each way; an error on either side destroys both and rejects with its code and the counts.
 */
export function proxy(a: net.Socket, b: net.Socket, options?: ProxyOptions): Promise<ProxyResult> {
  let pipeSize: number;
  let signal: AbortSignal | undefined;
  try {
    validateSocket(a, 'a');
    validateSocket(b, 'b');
    if (a === b) throw invalidArgValue('b', b, 'must be another socket than a');
    const refusal = writeRefusal(a) ?? writeRefusal(b);
    if (refusal) throw refusal;
    const opts = validateOptions<ProxyOptions>(options);
    pipeSize = validatePipeSize(opts.pipeSize);
    signal = validateSignal(opts.signal);
  } catch (err) {
    return Promise.reject(err);
  }
  const reason = streamReason(a, b);
  return tracked(() => reason ? proxyStreams(a, b, reason, signal) : proxySplice(a, b, pipeSize, signal));
}

async function proxySplice(a: net.Socket, b: net.Socket, pipeSize: number, signal?: AbortSignal): Promise<ProxyResult> {
  // Node ends and then closes a socket whose input has ended unless half-open is allowed; the relay keeps both
  // directions going itself. A socket Node saw end before the call may still be closed by Node: its 'close' is
  // Node's own doing, not a failure (our duplicate fds keep the connection until the relay is done).
  a.allowHalfOpen = true;
  b.allowHalfOpen = true;
  const endedBefore = new Set([a, b].filter((s) => s.readableEnded));
  const stop = new AbortController();
  const both = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;
  const counts = { aToB: 0, bToA: 0 };
  let failure: Error | undefined;
  const fail = (err: Error) => {
    failure ??= err;
    stop.abort();
  };
  const onClose = () => fail(prematureClose());
  const errors: Error[] = [];
  const onError = (err: Error) => errors.push(err);
  for (const s of [a, b]) {
    if (!endedBefore.has(s)) s.once('close', onClose);
    s.on('error', onError);
  }
  const direction = (from: net.Socket, to: net.Socket, key: keyof ProxyResult) => {
    const input = takeInput(from);
    counts[key] = 0;
    return enqueueTransfer(to, async (io) => {
      // end() may have been queued behind an earlier transfer on `to`: it gets nothing more.
      const refusal = writeRefusal(to, true);
      if (refusal) throw refusal;
      await writeThrough(io, input.buffered);
      counts[key] = input.bufferedBytes;
      const job = await kernel.relay({
        outFd: socketFd(to)!, inFd: socketFd(from)!, outOffset: null, length: -1, signal: both, pipeSize,
        shutdownOnEof: true,
      });
      counts[key] += job.bytes;
      if (job.error && job.error.code !== 'ECANCELED') fail(job.error);
    }, both).catch(fail);
  };
  await Promise.all([direction(a, b, 'aToB'), direction(b, a, 'bToA')]);
  for (const s of [a, b]) {
    s.removeListener('close', onClose);
    s.removeListener('error', onError);
    s.destroy();
  }
  if (signal?.aborted) throw Object.assign(abortError(counts.aToB + counts.bToA, signal), counts);
  if (failure) {
    const err = (failure as SystemError).code === 'ERR_STREAM_PREMATURE_CLOSE' && errors[0] ? errors[0] : failure;
    throw Object.assign(err, counts);
  }
  return counts;
}

/** The fallback: Node's pipe() both ways, with the same half-close and result shape. */
function proxyStreams(a: net.Socket, b: net.Socket, reason: FallbackReason, signal?: AbortSignal): Promise<ProxyResult> {
  countFallback(reason);
  // Node ends a socket's writing side when its reading side ends, unless half-open is allowed: the relay must
  // keep writing the other way.
  a.allowHalfOpen = true;
  b.allowHalfOpen = true;
  const counts = { aToB: 0, bToA: 0 };
  return new Promise((resolve, reject) => {
    let finished = 0;
    let settled = false;
    const settle = (err?: Error) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      a.destroy();
      b.destroy();
      if (err) reject(Object.assign(err, counts));
      else resolve(counts);
    };
    const onAbort = () => settle(abortError(counts.aToB + counts.bToA, signal));
    signal?.addEventListener('abort', onAbort, { once: true });
    for (const [from, to, key] of [[a, b, 'aToB'], [b, a, 'bToA']] as const) {
      from.on('data', (chunk: Buffer) => {
        counts[key] += chunk.length;
        countFallbackBytes(chunk.length);
      });
      from.pipe(to); // ends `to` (shutdown for writing) when `from` ends
      to.once('finish', () => ++finished === 2 && settle());
      from.once('error', (err) => settle(err));
      from.once('close', () => finished < 2 && settle(prematureClose()));
    }
  });
}

/**
 * Stores what arrives on a socket into a file, socket -> pipe -> file. With `length`, exactly that many bytes,
 * and the socket stays usable for what follows (an HTTP body with Content-Length); without, until the peer
 * ends. Bytes Node had already buffered are written first. Resolves with the bytes written; a peer that ends
 * before `length` rejects with ERR_STREAM_PREMATURE_CLOSE and `bytes` written.
 */
export function receiveFile(socket: net.Socket, dest: string | number | FileHandle,
  options?: ReceiveFileOptions): Promise<number> {
  let length: number | undefined;
  let offset: number | bigint | null;
  let pipeSize: number;
  let signal: AbortSignal | undefined;
  let output: OwnedFd | string;
  try {
    validateSocket(socket, 'socket');
    const refusal = readRefusal(socket);
    if (refusal) throw refusal;
    const opts = validateOptions<ReceiveFileOptions>(options);
    length = opts.length === undefined ? undefined : validateLength(opts.length, 'options.length');
    offset = validateOffset(opts.offset, 'options.offset');
    pipeSize = validatePipeSize(opts.pipeSize);
    signal = validateSignal(opts.signal);
    if (typeof dest === 'string') output = dest;
    else if (typeof dest === 'number') output = ownFd(validateFd(dest, 'dest'), false);
    else if (isFileHandle(dest)) output = ownFd(handleFd(dest, 'dup'), false);
    else throw invalidArgType('dest', 'of type string or number or an instance of FileHandle', dest);
    if (typeof output !== 'string') {
      try {
        requireWritable(output.fd); // not only when the first bytes arrive
      } catch (err) {
        output.close();
        throw err;
      }
    }
  } catch (err) {
    return Promise.reject(err);
  }
  return tracked(() => receive(socket, output, length, offset, pipeSize, signal));
}

async function receive(socket: net.Socket, dest: OwnedFd | string, length: number | undefined,
  offset: number | bigint | null, pipeSize: number, signal: AbortSignal | undefined): Promise<number> {
  let out: OwnedFd;
  if (typeof dest === 'string') {
    const { O_WRONLY, O_CREAT, O_TRUNC } = fs.constants;
    const fd = openPathSync(dest, O_WRONLY | O_CREAT | (offset === null ? O_TRUNC : 0), 0o666);
    out = { fd, close: () => fs.closeSync(fd) };
    if (fs.fstatSync(fd).isFile()) offset ??= 0; // a path is written from its start, unless it names a FIFO
  } else {
    out = dest;
  }
  try {
    const reason = streamReason(socket);
    if (reason) return await receiveStream(socket, out.fd, length, offset, reason, signal);
    return await receiveSplice(socket, out.fd, length, offset, pipeSize, signal);
  } finally {
    out.close();
  }
}

async function receiveSplice(socket: net.Socket, fd: number, length: number | undefined, offset: number | bigint | null,
  pipeSize: number, signal: AbortSignal | undefined): Promise<number> {
  const input = takeInput(socket);
  const at = (n: number) => advance(offset, n);
  // Taken from the socket and not yet written: Node's buffered bytes, written first, up to `length`. Whatever is
  // left of them (past `length`, or after a failure) goes back to the socket, ahead of the rest.
  const held = [...input.buffered];
  const closed = new AbortController();
  const onClose = () => closed.abort();
  socket.once('close', onClose);
  const both = signal ? AbortSignal.any([signal, closed.signal]) : closed.signal;
  let written = 0;
  let job: StreamJobResult | undefined;
  try {
    while (held.length > 0 && (length === undefined || written < length)) {
      const take = length === undefined ? held[0].length : Math.min(held[0].length, length - written);
      const n = (await writeWaiting(fd, held[0], 0, take, at(written), both)).bytesWritten;
      written += n;
      if (n === held[0].length) held.shift();
      else held[0] = held[0].subarray(n);
    }
    if (length === undefined || written < length) {
      job = await kernel.relay({
        outFd: fd, inFd: socketFd(socket)!, outOffset: at(written), length: length === undefined ? -1 : length - written,
        signal: both, pipeSize,
      });
      written += job.bytes;
    }
  } catch (err) {
    input.giveBack(Buffer.concat(held));
    throw withBytes(closed.signal.aborted && !signal?.aborted ? prematureClose() : err as Error, written);
  } finally {
    socket.removeListener('close', onClose);
  }
  if (!job) {
    input.giveBack(Buffer.concat(held));
    return written;
  }
  if (job.error) {
    // Never a silently dead socket: readable again with every byte it still owes, or destroyed when its own
    // input failed.
    if (job.unwritten) input.giveBack(job.unwritten);
    else socket.destroy();
    if (job.error.code === 'ECANCELED') {
      throw signal?.aborted ? abortError(written, signal) : withBytes(prematureClose(), written);
    }
    throw withBytes(job.error, written);
  }
  if (job.fallbackReason) countFallback(job.fallbackReason);
  if (job.truncated) {
    input.ended();
    throw withBytes(prematureClose(), written);
  }
  if (length === undefined) input.ended();
  else input.giveBack();
  return written;
}

/**
 * The fallback: Node reads the socket and writes the file, stopping at exactly `length`. On a failure or an abort,
 * the bytes read and not yet written go back to the socket, ahead of the rest.
 */
function receiveStream(socket: net.Socket, fd: number, length: number | undefined, offset: number | bigint | null,
  reason: FallbackReason, signal: AbortSignal | undefined): Promise<number> {
  countFallback(reason);
  const flowing = socket.readableFlowing;
  return new Promise((resolve, reject) => {
    let taken = 0;
    let written = 0;
    const pending: Buffer[] = []; // taken from the socket, not yet written, in order
    let pendingBytes = 0;
    let pumping = false;
    // Once set, nothing more is taken; `stop`: nothing more is written either (an abort, a failed write).
    let outcome: { err?: Error; stop: boolean } | undefined;
    const settle = () => {
      if (pending.length > 0 && !socket.destroyed && !socket.readableEnded) {
        socket.unshift(Buffer.concat(pending.splice(0)));
      }
      restoreFlowing(socket, flowing);
      if (outcome!.err) reject(withBytes(outcome!.err, written));
      else resolve(written);
    };
    const finish = (err?: Error, stop = false) => {
      if (outcome) {
        outcome.err ??= err; // a write that fails after the last byte was taken still fails the call
        outcome.stop ||= stop;
        return;
      }
      outcome = { err, stop };
      socket.removeListener('data', onData);
      socket.removeListener('end', onEnd);
      socket.removeListener('close', onEnd);
      socket.removeListener('error', onError);
      signal?.removeEventListener('abort', onAbort);
      socket.pause();
      if (!pumping) settle();
    };
    const pump = async () => {
      pumping = true;
      while (pending.length > 0 && !outcome?.stop) {
        const chunk = pending[0];
        const position = advance(offset, written);
        try {
          const n = (await writeWaiting(fd, chunk, 0, chunk.length, position, signal)).bytesWritten;
          written += n;
          pendingBytes -= n;
          countFallbackBytes(n);
          if (n === chunk.length) pending.shift();
          else pending[0] = chunk.subarray(n);
          if (!outcome && pendingBytes < RECEIVE_AHEAD) socket.resume();
        } catch (err) {
          finish(err as Error, true);
        }
      }
      pumping = false;
      if (outcome) settle();
    };
    const onData = (chunk: Buffer) => {
      const take = length === undefined ? chunk.length : Math.min(chunk.length, length - taken);
      taken += take;
      pending.push(chunk.subarray(0, take));
      pendingBytes += take;
      if (pendingBytes >= RECEIVE_AHEAD) socket.pause(); // the output is slower: read no further ahead of it
      if (!pumping) void pump();
      if (length !== undefined && taken === length) {
        finish(); // first: unshift on a flowing socket would emit 'data' to us again
        if (take < chunk.length) socket.unshift(chunk.subarray(take));
      }
    };
    const onEnd = () => finish(length === undefined ? undefined : prematureClose());
    const onError = (err: Error) => finish(err);
    const onAbort = () => finish(abortError(written, signal), true);
    if (length === 0) return finish();
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    socket.once('error', onError);
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.resume();
  });
}
