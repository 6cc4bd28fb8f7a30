// sendFile: a file to a socket (or any fd) with sendfile(2), never blocking the event loop: a page-cached range
// goes out right away on the JS thread (no thread hop), the rest on the engine threads. Read/write stands in
// where sendfile cannot serve (TLS, no binding, not a regular file), with the same result shape.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { promisify } from 'node:util';
import type { FileHandle } from 'node:fs/promises';
import { binding } from './binding';
import { runJob } from './engine';
import {
  type SystemError,
  abortError,
  fileTruncated,
  invalidArgType,
  outOfRange,
  validateFd,
  validateLength,
  validateOffset,
  validateOptions,
  withBytes,
} from './errors';
import { type OwnedFd, ownFd } from './fds';
import { enqueueTransfer, type SocketIo } from './socket-queue';
import { countFallback, countFallbackBytes, tracked } from './stats';

export interface SendFileOptions {
  /** Where to start in the file (number or bigint). Default 0. */
  offset?: number | bigint;
  /** Bytes to send. Default: to the end of the file. */
  length?: number;
  signal?: AbortSignal;
  /** Called with the bytes sent so far, at most once per chunk. */
  onProgress?: (bytes: number) => void;
}

export interface SendResult {
  bytes: number;
  /** False when the bytes went through read/write instead of sendfile. */
  zeroCopy: boolean;
  /** Why read/write was used: 'tls', 'no-binding', 'not-regular-file', 'no-fd', 'sendfile-refused'. */
  fallbackReason?: string;
}

export type FileInput = string | number | FileHandle;

// The fast path sends at most this much on the JS thread per call, so the event loop never stalls.
const FAST_PATH_MAX = 4 << 20;
const FALLBACK_CHUNK = 256 << 10;

const openAsync = promisify(fs.open);
const readAsync = promisify(fs.read);
const writeAsync = promisify(fs.write);

export interface Source {
  fd: number;
  path?: string;
  stats: fs.Stats;
  close(): void;
}

export function isFileHandle(value: unknown): value is FileHandle {
  return typeof value === 'object' && value !== null && typeof (value as FileHandle).fd === 'number' &&
    typeof (value as FileHandle).close === 'function';
}

export interface Claim {
  /** Opens a path (or takes the duplicated fd) and stats the file; `close` on the result releases it. */
  open(): Promise<Source>;
  /** Releases the claim when `open` is never called. */
  release(): void;
}

/** Claims an input now: an fd or FileHandle is duplicated at once, so the caller may close it right away. */
export function claimInput(input: unknown, name: string): Claim {
  let owned: OwnedFd | undefined;
  if (typeof input === 'number') owned = ownFd(validateFd(input, name), true);
  else if (isFileHandle(input)) owned = ownFd(input.fd, true);
  else if (typeof input !== 'string') {
    throw invalidArgType(name, 'of type string or number or an instance of FileHandle', input);
  }
  return {
    async open() {
      let fd: number;
      let close: () => void;
      if (owned) {
        ({ fd, close } = owned);
      } else {
        const opened = await openAsync(input as string, 'r');
        fd = opened;
        close = () => fs.closeSync(opened);
      }
      try {
        return { fd, path: owned ? undefined : (input as string), stats: fs.fstatSync(fd), close };
      } catch (err) {
        close();
        throw err;
      }
    },
    release() {
      owned?.close();
    },
  };
}

/** The range to send, checked against the file's size now. */
function range(offset: number | bigint | null, length: number | undefined, size: number): [number, number] {
  const start = offset === null ? 0 : Number(offset);
  if (start > size) throw outOfRange('options.offset', `<= ${size} (the file's size)`, offset);
  const count = length ?? size - start;
  if (start + count > size) throw outOfRange('options.length', `<= ${size - start} (to the end of the file)`, length);
  return [start, count];
}

function socketFd(socket: net.Socket): number | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

interface Transfer {
  inFd: number;
  path?: string;
  offset: number;
  length: number;
  signal?: AbortSignal;
  onProgress?: (bytes: number) => void;
}

/**
 * Sends a file to a socket or an fd. Resolves with the bytes sent and whether they went zero-copy.
 * Rejects with AbortError (`bytes` set), ECONNRESET / EPIPE (`bytes` set), or ERR_FILE_TRUNCATED when the file
 * shrank mid-way: a socket is then destroyed, so that a client sees a short body and never zeros as success.
 */
export function sendFile(out: net.Socket | number, input: FileInput, options?: SendFileOptions): Promise<SendResult> {
  let opts: Partial<SendFileOptions>;
  let offset: number | bigint | null;
  let length: number | undefined;
  let claim: Claim;
  const isSocket = out instanceof net.Socket;
  try {
    opts = validateOptions<SendFileOptions>(options);
    offset = validateOffset(opts.offset, 'options.offset');
    length = opts.length === undefined ? undefined : validateLength(opts.length, 'options.length');
    if (opts.signal !== undefined && !(opts.signal instanceof AbortSignal)) {
      throw invalidArgType('options.signal', 'an instance of AbortSignal', opts.signal);
    }
    if (opts.onProgress !== undefined && typeof opts.onProgress !== 'function') {
      throw invalidArgType('options.onProgress', 'of type function', opts.onProgress);
    }
    if (!isSocket) validateFd(out, 'out');
    if (opts.signal?.aborted) throw abortError(0, opts.signal);
    claim = claimInput(input, 'input');
  } catch (err) {
    return Promise.reject(err);
  }
  const run = async (send: (t: Transfer, regular: boolean) => Promise<SendResult>) => {
    const source = await claim.open();
    try {
      const [start, count] = range(offset, length, source.stats.size);
      const transfer: Transfer = {
        inFd: source.fd, path: source.path, offset: start, length: count, signal: opts.signal,
        onProgress: opts.onProgress,
      };
      return await tracked(() => send(transfer, source.stats.isFile()));
    } finally {
      source.close();
    }
  };
  // A socket's place in its output queue is taken now, so that writes made after this call go after the file.
  if (isSocket) return enqueueTransfer(out, (io) => run((t, regular) => sendToSocket(out, io, t, regular)));
  let output: OwnedFd;
  try {
    output = ownFd(out, false);
  } catch (err) {
    claim.release();
    return Promise.reject(err);
  }
  return run((t, regular) => sendToFd(output.fd, t, regular)).finally(() => output.close());
}

function fallbackFor(regular: boolean): string | undefined {
  if (!binding) return 'no-binding';
  if (!regular) return 'not-regular-file';
  return undefined;
}

async function sendToFd(outFd: number, t: Transfer, regular: boolean): Promise<SendResult> {
  const reason = fallbackFor(regular);
  if (reason) return readWrite(t, reason, (chunk) => writeFully(outFd, chunk));
  return zeroCopy(outFd, t, {});
}

async function sendToSocket(socket: net.Socket, io: SocketIo, t: Transfer, regular: boolean): Promise<SendResult> {
  if (socket.destroyed || socket.writableEnded) {
    throw withBytes(Object.assign(new Error('Cannot send a file to a socket that has ended or been destroyed'),
      { code: 'ERR_STREAM_DESTROYED' }), 0);
  }
  const fd = socketFd(socket);
  const reason = socket instanceof tls.TLSSocket ? 'tls' : fallbackFor(regular) ?? (fd === undefined ? 'no-fd' : undefined);
  // The socket going away stops the transfer: our duplicate of its fd would otherwise keep the connection open.
  // An error our own writes cause (a reset peer) is ours to report: it must not crash a socket with no listener.
  const closed = new AbortController();
  const onClose = () => closed.abort();
  let socketError: Error | undefined;
  const onError = (err: Error) => (socketError ??= err);
  socket.once('close', onClose);
  socket.on('error', onError);
  const signal = t.signal ? AbortSignal.any([t.signal, closed.signal]) : closed.signal;
  try {
    if (reason) return await readWrite({ ...t, signal }, reason, (chunk) => socketWrite(socket, io, chunk, signal));
    return await zeroCopy(fd!, { ...t, signal }, { socket, io });
  } catch (err) {
    const code = (err as SystemError).code;
    if (code === 'ERR_FILE_TRUNCATED' || code === 'ECONNRESET' || code === 'EPIPE') socket.destroy();
    if (closed.signal.aborted && !t.signal?.aborted) {
      // The socket closed under us: report why (a reset peer), else that it closed early.
      const bytes = (err as { bytes?: number }).bytes ?? 0;
      throw withBytes(socketError ?? Object.assign(new Error('The socket closed during the transfer'),
        { code: 'ERR_STREAM_PREMATURE_CLOSE' }), bytes);
    }
    throw err;
  } finally {
    socket.removeListener('close', onClose);
    socket.removeListener('error', onError);
  }
}

function refused(err: unknown): boolean {
  const code = (err as SystemError).code;
  return code === 'EINVAL' || code === 'ENOSYS' || code === 'EOPNOTSUPP' || code === 'ENOTSUP' || code === 'EIO';
}

/** sendfile: the fast path on this thread while the range is cached and the fd takes it, then the engine. */
async function zeroCopy(outFd: number, t: Transfer, target: { socket?: net.Socket; io?: SocketIo }): Promise<SendResult> {
  let sent = 0;
  try {
    const fast = binding!.sendfileFast(outFd, t.inFd, t.offset, Math.min(t.length, FAST_PATH_MAX));
    if (fast > 0) sent = fast;
  } catch (err) {
    if (!refused(err)) throw withBytes(err as SystemError, 0);
    return readWrite(t, 'sendfile-refused', (chunk) =>
      target.socket ? socketWrite(target.socket, target.io!, chunk, t.signal) : writeFully(outFd, chunk));
  }
  if (sent > 0 && sent < t.length) t.onProgress?.(sent);
  let fallbackBytes = 0;
  let fallbackReason: string | undefined;
  let truncated = false;
  if (sent < t.length) {
    const job = await runJob('sendfile', outFd, t.inFd, t.offset + sent, null, t.length - sent, {
      signal: t.signal,
      onProgress: t.onProgress && ((bytes) => t.onProgress!(sent + bytes)),
    });
    sent += job.bytes;
    fallbackBytes = job.fallbackBytes;
    truncated = job.truncated;
    if (job.fallbackReason) {
      fallbackReason = job.fallbackReason;
      countFallback(fallbackReason);
    }
    if (job.error) {
      if (job.error.code === 'ECANCELED') throw abortError(sent, t.signal);
      throw withBytes(job.error, sent);
    }
  } else {
    truncated = fs.fstatSync(t.inFd).size < t.offset + t.length;
  }
  if (truncated) throw fileTruncated(sent, t.length, t.path);
  const zeroCopy = fallbackBytes === 0;
  return fallbackReason && !zeroCopy ? { bytes: sent, zeroCopy, fallbackReason } : { bytes: sent, zeroCopy };
}

/** The read/write stand-in: chunks read off the threadpool-backed fs.read, written in order. */
async function readWrite(t: Transfer, reason: string, write: (chunk: Buffer) => Promise<void>): Promise<SendResult> {
  countFallback(reason);
  let sent = 0;
  const regular = fs.fstatSync(t.inFd).isFile();
  while (sent < t.length) {
    if (t.signal?.aborted) throw abortError(sent, t.signal);
    const chunk = Buffer.allocUnsafe(Math.min(FALLBACK_CHUNK, t.length - sent));
    const n = (await readAsync(t.inFd, chunk, 0, chunk.length, regular ? t.offset + sent : null)).bytesRead;
    if (n === 0) throw fileTruncated(sent, t.length, t.path);
    try {
      await write(chunk.subarray(0, n));
    } catch (err) {
      throw withBytes(err as Error, sent); // the bytes the destination took before the failure
    }
    sent += n;
    countFallbackBytes(n);
    if (sent < t.length) t.onProgress?.(sent);
  }
  if (regular && fs.fstatSync(t.inFd).size < t.offset + t.length) throw fileTruncated(sent, t.length, t.path);
  return { bytes: sent, zeroCopy: false, fallbackReason: reason };
}

async function writeFully(fd: number, chunk: Buffer): Promise<void> {
  for (let done = 0; done < chunk.length;) {
    done += (await writeAsync(fd, chunk, done, chunk.length - done, null)).bytesWritten;
  }
}

/** Writes through the socket's own write and waits while it asks us to (backpressure), fails, or is aborted. */
function socketWrite(socket: net.Socket, io: SocketIo, chunk: Buffer, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (socket.destroyed) {
      reject(Object.assign(new Error('The socket closed during the transfer'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
      return;
    }
    let settled = false;
    const done = (err?: Error | null) => {
      if (settled) return;
      settled = true;
      socket.removeListener('drain', onDrain);
      socket.removeListener('close', onClose);
      socket.removeListener('error', onError);
      signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = () => done();
    const onClose = () => done(Object.assign(new Error('The socket closed during the transfer'),
      { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
    const onError = (err: Error) => done(err);
    const onAbort = () => done(abortError(0, signal));
    socket.once('close', onClose);
    socket.once('error', onError);
    signal?.addEventListener('abort', onAbort, { once: true });
    if (io.write(chunk, (err) => err && done(err))) done();
    else socket.once('drain', onDrain);
  });
}

