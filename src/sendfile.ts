// sendFile: a file to a socket (or any fd) by a strategy chosen per transfer (sendfile, splice, mmap, copy; 'auto'
// by destination and size), never blocking the event loop. A page-cached range on an idle socket goes out
// synchronously inside the call (no thread hop, no queue); whatever is left goes to the kernel's engine. The
// 'copy' strategy in JavaScript stands in where the kernel cannot serve (TLS, no addon, not a regular file, a
// refusal), with the same result shape.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import type { FileHandle } from 'node:fs/promises';
import type * as http from 'node:http';
import {
  type SystemError,
  abortError,
  fileTruncated,
  invalidArgType,
  invalidArgValue,
  leaseBroken,
  outOfRange,
  systemError,
  validateFd,
  validateLength,
  validateOffset,
  validateOptions,
  validateSignal,
  withBytes,
} from './errors';
import { type OwnedFd, handleFd, isFileHandle, openPathSync, ownFd } from './fds';
import { type Lease, leaseFd } from './lease';
import { type LeasePath, leasePathFor, untilAcked } from './lease-path';
import {
  type Choice,
  type FallbackReason,
  type Moved,
  type Reason,
  type SendJob,
  type Strategy,
  type StrategyOption,
  type Writer,
  choose,
  copyRange,
  destinationOf,
  fdWriter,
  kernel,
  runnable,
  streamReason,
  validateStrategy,
} from './seam';
import { enqueueTransfer, hasQueue, isFlushed, type SocketIo } from './socket-queue';
import { countBodyBytes, forbidsBody, isResponse, prematureClose, responseSocket, socketFd, unsentHeaders, writeRefusal } from './sockets';
import { countTransfer, tracked } from './stats';

export interface SendFileOptions {
  /** Where to start in the file (number or bigint). Default 0. */
  offset?: number | bigint;
  /** Bytes to send. Default: to the end of the file. */
  length?: number;
  signal?: AbortSignal;
  /** Called with the bytes sent so far, at most once per chunk. */
  onProgress?: (bytes: number) => void;
  /**
   * Hold a read lease on the file while sending, so the response is exactly the file: true (go on without one
   * where it cannot be had, saying why in the result) or 'required' (reject instead).
   */
  lease?: boolean | 'required';
  /** After a lease break, how long the transfer may go on before it is stopped. Default 1000. */
  leaseGraceMs?: number;
  /**
   * How the bytes move: 'sendfile', 'splice', 'mmap', 'copy', or 'auto' (the default unless configure() set
   * another): by destination and size. Without the addon only 'copy' exists: any other gives 'copy' with reason
   * 'no-binding'.
   */
  strategy?: StrategyOption;
}

export interface SendResult {
  bytes: number;
  /** False when the bytes went through read/write ('copy'), or had to be copies (a lease's 'copy' path). */
  zeroCopy: boolean;
  /** The strategy that moved the bytes (after a refusal, 'copy'). */
  strategy: Strategy;
  /** Why that strategy: 'forced', 'auto:<destination>', or the fallback reason. */
  reason: Reason;
  /** Why read/write was used: 'tls', 'no-binding', 'not-regular-file', 'no-fd', 'sendfile-refused', 'lease-copy'. */
  fallbackReason?: FallbackReason;
  /** With `lease`: whether a lease guarded the transfer, and why not ('EAGAIN', 'EACCES', 'no-binding', ...). */
  leased?: boolean;
  leaseReason?: string;
  /**
   * With a lease: how the bytes stayed the file's. 'copy' (read/write into socket memory, for any peer on this
   * host, a pipe or a file: they would otherwise read the file's pages whenever they like) or
   * 'sendfile-until-acked' (a remote TCP peer: the lease was held until it acknowledged every byte).
   */
  leasePath?: LeasePath;
}

export type FileInput = string | number | FileHandle;

/** An input file, opened (or duplicated) by us. `size` is -1 when it is not a regular file. */
export interface Source {
  fd: number;
  path?: string;
  size: number;
  /** How the fd's owner keeps it (the open-file cache). */
  kept?: Kept;
  close(): void;
}

/**
 * The kept file's map, when the transfer may be sent from it: its lease still held as the transfer starts (a writer
 * that broke it may be changing the pages; the file then goes as an uncached one would, and a break after this
 * cuts the response: native code checks the lease before each write).
 */
function mapNow(kept: Kept | undefined): number | undefined {
  return kept?.map !== undefined && kept.lease.held ? kept.map : undefined;
}

/** A file the open-file cache keeps. */
export interface Kept {
  /**
   * The lease it is kept under: still held after a send, it proves no writer opened the file meanwhile (the
   * lease thread clears the flag before it lets one go), so that nothing truncated it and the send needs no
   * fstat to tell.
   */
  readonly lease: Lease;
  /** The whole file mapped (keepMapped), or undefined: 'auto' sends a peer on this host a write from it. */
  readonly map: number | undefined;
}

const regularSize = (fd: number) => kernel.regularSize(fd);

/**
 * Opens the input now: a path synchronously (a cached open costs a few µs, a threadpool hop ~90 µs), an fd or
 * FileHandle by duplicating it, so the caller may close its own right after the call.
 */
export function openSource(input: unknown, name: string): Source {
  let owned: OwnedFd;
  let path: string | undefined;
  if (typeof input === 'string') {
    const fd = openPathSync(input, fs.constants.O_RDONLY);
    owned = { fd, close: () => fs.closeSync(fd) };
    path = input;
  } else if (typeof input === 'number') {
    owned = ownFd(validateFd(input, name), true);
  } else if (isFileHandle(input)) {
    owned = ownFd(handleFd(input, 'dup'), true);
  } else {
    throw invalidArgType(name, 'of type string or number or an instance of FileHandle', input);
  }
  try {
    const size = regularSize(owned.fd);
    // Not on the hot path: only inputs that are not regular files pay for the second fstat.
    if (size < 0) refuseSource(fs.fstatSync(owned.fd), path);
    return { ...owned, path, size };
  } catch (err) {
    owned.close();
    throw err;
  }
}

/**
 * A source that is no stream of bytes: a directory (EISDIR, as read says), or an anonymous inode such as an
 * eventfd or an epoll fd (EINVAL, as sendfile says: a read of one is a counter or an error, and a blocking one
 * would wait in the kernel forever).
 */
function refuseSource(st: fs.Stats, path?: string): void {
  if (st.isDirectory()) throw systemError(-os.constants.errno.EISDIR, 'read', path);
  if (!st.isFIFO() && !st.isSocket() && !st.isCharacterDevice() && !st.isBlockDevice()) {
    throw systemError(-os.constants.errno.EINVAL, 'sendfile', path);
  }
}

/** What one sendFile call sends, and how far it got. */
interface Transfer {
  inFd: number;
  path?: string;
  regular: boolean;
  offset: number;
  length: number;
  sent: number;
  signal?: AbortSignal;
  onProgress?: (bytes: number) => void;
  choice: Choice;
  /** Set when the kernel refused these fds on the fast path: the rest goes through read/write. */
  refused?: FallbackReason;
  /** Bytes still to go before the range (a response's headers). */
  head?: Buffer;
  lease?: Lease;
  leasePath?: LeasePath;
  kept?: Kept;
  /** The kept map it is sent from when its strategy is 'mmap' (mapNow, decided as it starts). */
  map?: number;
}

function validateSendOptions(options: unknown): [Partial<SendFileOptions>, number | bigint | null, number | undefined] {
  const opts = validateOptions<SendFileOptions>(options);
  const offset = validateOffset(opts.offset, 'options.offset');
  const length = opts.length === undefined ? undefined : validateLength(opts.length, 'options.length');
  if (opts.onProgress !== undefined && typeof opts.onProgress !== 'function') {
    throw invalidArgType('options.onProgress', 'of type function', opts.onProgress);
  }
  if (opts.lease !== undefined && typeof opts.lease !== 'boolean' && opts.lease !== 'required') {
    throw invalidArgValue('options.lease', opts.lease, "must be true, false or 'required'");
  }
  if (opts.leaseGraceMs !== undefined) validateLength(opts.leaseGraceMs, 'options.leaseGraceMs');
  validateStrategy(opts.strategy, 'options.strategy');
  validateSignal(opts.signal);
  return [opts, offset, length];
}

/** The range to send, checked against the file's size now. */
function range(offset: number | bigint | null, length: number | undefined, size: number): [number, number] {
  const start = offset === null ? 0 : Number(offset);
  if (size < 0) {
    if (length === undefined) throw invalidArgType('options.length', 'given for an input that is not a regular file', length);
    return [start, length];
  }
  if (start > size) throw outOfRange('options.offset', `<= ${size} (the file's size)`, offset);
  const count = length ?? size - start;
  if (start + count > size) throw outOfRange('options.length', `<= ${size - start} (to the end of the file)`, length);
  return [start, count];
}

/**
 * Sends a file to a socket or an fd. Resolves with the bytes sent and whether they went zero-copy.
 * Rejects with AbortError (`bytes` set), ECONNRESET / EPIPE (`bytes` set), or ERR_FILE_TRUNCATED when the file
 * shrank mid-way: a socket is then destroyed, so that a client sees a short body and never zeros as success.
 */
export function sendFile(out: net.Socket | number | http.ServerResponse, input: FileInput, options?: SendFileOptions):
  Promise<SendResult> {
  if (isResponse(out)) return sendToResponse(out, input, options);
  return send(out, () => openSource(input, 'input'), options);
}

/**
 * sendFile(res): nothing for HEAD or a status without a body; otherwise the file's bytes must be exactly the
 * Content-Length declared (refused before anything is sent), then the headers go out and the socket takes them.
 */
function sendToResponse(res: http.ServerResponse, input: FileInput, options?: SendFileOptions): Promise<SendResult> {
  let source: Source | undefined;
  let socket: net.Socket;
  try {
    const [, offset, length] = validateSendOptions(options);
    if (res.req?.method === 'HEAD' || forbidsBody(res.statusCode)) {
      return Promise.resolve({ bytes: 0, zeroCopy: false, strategy: 'copy', reason: 'no-body' });
    }
    source = openSource(input, 'input');
    socket = responseSocket(res, range(offset, length, source.size)[1]);
  } catch (err) {
    source?.close();
    return Promise.reject(err);
  }
  let opened = false; // send closes the source once it has taken it; a refusal before that is ours to close
  return send(socket, () => ((opened = true), source!), options)
    .then((result) => {
      countBodyBytes(res, result.bytes); // so that the caller's res.end() sees the whole body Node did not write
      return result;
    })
    .finally(() => opened || source!.close());
}

/**
 * sendFile of a file the caller has open and keeps open until this settles (serveFile: it has already opened
 * and stat'ed it, so no duplicate and no second fstat). With `held`, engine jobs are guarded by a lease the
 * caller holds across several calls (the parts of a multipart response) and releases itself. `head` (a
 * response's headers, a part's framing) goes before the range, in the same segment as its first bytes: with it
 * in one syscall on the fast path, else through socket.write with TCP_CORK held until the range has gone.
 */
export function sendOpenFile(out: net.Socket, file: OpenRegularFile, options: SendFileOptions, held?: HeldLease,
  head?: Buffer): Promise<SendResult> {
  return send(out, () => ({ fd: file.fd, path: file.path, size: file.size, kept: file.kept, close() {} }), options,
    held, head);
}

/** A regular file its caller has open and has stat'ed. */
export interface OpenRegularFile {
  fd: number;
  path: string;
  size: number;
  kept?: Kept;
}

/**
 * sendOpenFile's fast path alone, with no promise, for a caller that has checked its arguments and holds no lease
 * (serveFile): the range goes now, on the JS thread, as far as the page cache and the socket buffer allow. The
 * result when all of it went (the common case costs the syscall and no more); otherwise how much of the range
 * went and the head still to send, for sendOpenFile to take on from there. Throws as sendOpenFile rejects.
 */
export function sendOpenFileNow(out: net.Socket, file: OpenRegularFile, offset: number, length: number,
  strategy: StrategyOption | undefined, head?: Buffer): SendResult | { sent: number; head?: Buffer } {
  if (writeRefusal(out)) return { sent: 0, head }; // sendOpenFile says why
  const map = mapNow(file.kept);
  const t: Transfer = {
    inFd: file.fd, path: file.path, regular: true, offset, length, sent: 0, kept: file.kept, map,
    choice: chooseFor(out, strategy, length, true, undefined, map !== undefined), head,
  };
  return fastPath(out, t) ?? { sent: t.sent, head: t.head?.length ? t.head : undefined };
}

/** A lease the caller holds across several sends, on the path it chose (and whose wait for acks it owns). */
export interface HeldLease {
  lease: Lease;
  path: LeasePath;
}

function send(out: net.Socket | number, open: () => Source, options: SendFileOptions | undefined, held?: HeldLease,
  head?: Buffer): Promise<SendResult> {
  let source: Source | undefined;
  let transfer: Transfer;
  let leaseInfo: Pick<SendResult, 'leased' | 'leaseReason' | 'leasePath'> = {};
  const isSocket = out instanceof net.Socket;
  try {
    const [opts, offset, length] = validateSendOptions(options);
    if (isSocket) {
      const refusal = writeRefusal(out);
      if (refusal) throw withBytes(refusal, 0);
      const unsent = unsentHeaders(out);
      if (unsent) throw unsent;
    } else {
      validateFd(out, 'out');
    }
    source = open();
    let lease: Lease | undefined = held?.lease;
    let leasePath = held?.path;
    if (opts.lease && !held) {
      [lease, leaseInfo] = takeLease(source, opts.lease, opts.leaseGraceMs ?? 1000);
      if (lease) {
        source.size = regularSize(source.fd); // as the lease now keeps it
        leasePath = leaseInfo.leasePath = leasePathFor(out);
        if (leasePath === 'sendfile-until-acked') lease.guardSocket(socketFd(out as net.Socket)!);
      }
    }
    const [start, count] = range(offset, length, source.size);
    const regular = source.size >= 0;
    const map = mapNow(source.kept);
    transfer = {
      inFd: source.fd, path: source.path, regular, offset: start, length: count, sent: 0,
      signal: opts.signal, onProgress: opts.onProgress, lease, leasePath, kept: source.kept, map,
      choice: chooseFor(out, opts.strategy, count, regular, leasePath, map !== undefined), head,
    };
  } catch (err) {
    source?.close();
    return Promise.reject(err);
  }
  const lease = transfer.lease;
  // Our own lease on the sendfile path is held, and the socket's later writes wait, until the peer has it all.
  const ownUntilAcked = lease !== undefined && !held && transfer.leasePath === 'sendfile-until-acked';
  const untilAckedBy = (socket: net.Socket, result: SendResult) => (ownUntilAcked
    ? untilAcked(socket, lease!, result.bytes, transfer.length, transfer.path).then(() => result)
    : Promise.resolve(result));
  let uncork: (() => void) | undefined;
  const close = () => {
    uncork?.();
    // Released with bytes unacknowledged (a failure, an abort), the lease resets the connection: Node's socket
    // goes first, so that the reset cannot surface as an 'error' nobody listens to.
    if (ownUntilAcked && lease!.unacked() > 0) (out as net.Socket).destroy();
    if (!held) lease?.release();
    source!.close();
  };
  const withLease = (result: SendResult): SendResult => (leaseInfo.leased === undefined ? result : { ...result, ...leaseInfo });
  let pending: Promise<SendResult>;
  if (isSocket) {
    let done: SendResult | undefined;
    try {
      done = fastPath(out, transfer);
    } catch (err) {
      close();
      return Promise.reject(err);
    }
    if (done && !ownUntilAcked) {
      close();
      return Promise.resolve(withLease(done));
    }
    // What of the head the fast path could not send goes through Node now, held back until the range follows.
    if (transfer.head?.length) {
      uncork = corkAround(out);
      out.write(transfer.head);
    }
    // The socket's place in its output queue is taken now: writes made after this call go after the file.
    const queueAbort = () => abortError(transfer.sent, transfer.signal);
    pending = done
      ? enqueueTransfer(out, () => untilAckedBy(out, done), transfer.signal, queueAbort)
      : enqueueTransfer(out, (io) => tracked(() => sendToSocket(out, io, transfer)).then((r) => untilAckedBy(out, r)),
        transfer.signal, queueAbort);
  } else {
    let output: OwnedFd;
    try {
      output = ownFd(out, false);
    } catch (err) {
      close();
      return Promise.reject(err);
    }
    pending = tracked(() => sendToFd(output.fd, transfer)).finally(output.close);
  }
  return pending.then(withLease).finally(close);
}

/** A read lease on the source, held through the transfer; or why there is none (true), or an error ('required'). */
function takeLease(source: Source, mode: true | 'required', graceMs: number):
  [Lease | undefined, Pick<SendResult, 'leased' | 'leaseReason' | 'leasePath'>] {
  try {
    return [leaseFd(source.fd, 'read', true, graceMs, undefined, source.path), { leased: true }];
  } catch (err) {
    if (mode === 'required') throw err;
    const code = (err as SystemError).code;
    return [undefined, { leased: false, leaseReason: code === 'ERR_ZEROCOPY_UNSUPPORTED' ? 'no-binding' : code }];
  }
}

/**
 * The strategy asked for or chosen by 'auto', unless the transfer cannot take it: a socket the kernel cannot
 * write (TLS, no fd, no addon), an input that is no regular file, or a lease whose peer must get copies.
 */
function chooseFor(out: net.Socket | number, asked: StrategyOption | undefined, length: number, regular: boolean,
  leasePath: LeasePath | undefined, mapped: boolean): Choice {
  const choice = runnable(choose(asked, destinationOf(out), length, mapped));
  // Without the addon, runnable() has made it 'copy' already (a forced 'copy' stays 'forced').
  const stream = out instanceof net.Socket ? streamReason(out) : undefined;
  if (stream && stream !== 'no-binding') return { strategy: 'copy', reason: stream };
  if (!regular) return { strategy: 'copy', reason: 'not-regular-file' };
  // Only a strategy whose bytes are copies (in socket memory before write returns) keeps a lease's promise.
  if (leasePath === 'copy') return { strategy: choice.strategy === 'mmap' ? 'mmap' : 'copy', reason: 'lease-copy' };
  return choice;
}

/** What the transfer reports: the strategy that moved the bytes, and why (counted in stats()). */
function resultOf(t: Transfer, moved: Moved): SendResult {
  const fallback = moved.fallbackReason ?? t.refused;
  const reason = fallback ?? t.choice.reason;
  const fallbackReason = fallback ?? (reason === 'forced' || reason.startsWith('auto:') ? undefined : reason as FallbackReason);
  countTransfer(moved.strategy, fallbackReason);
  const result: SendResult = { bytes: moved.bytes, zeroCopy: moved.strategy !== 'copy' && !fallbackReason,
    strategy: moved.strategy, reason };
  if (fallbackReason) result.fallbackReason = fallbackReason;
  return result;
}

/** The transfer as the kernel takes it. */
function jobOf(outFd: number, t: Transfer): SendJob {
  return { outFd, inFd: t.inFd, offset: t.offset, length: t.length, sent: t.sent, strategy: t.choice.strategy,
    path: t.path, signal: t.signal, onProgress: t.onProgress, lease: t.lease,
    map: t.choice.strategy === 'mmap' ? t.map : undefined };
}

/** The 'copy' strategy in JavaScript, through `write`: for what the kernel cannot take. */
async function copyThrough(t: Transfer, write: Writer): Promise<SendResult> {
  const bytes = await copyRange({ ...t, offset: t.regular ? t.offset : null }, write);
  return resultOf(t, { bytes, strategy: 'copy' });
}

/** Read/write takes over from the kernel: after a refusal, or for an input read as it comes. */
function copiesInJs(t: Transfer): boolean {
  return t.refused !== undefined || !t.regular;
}

/**
 * On an idle socket (no transfer queued, nothing held by Node), sends what the page cache and the socket
 * buffer take right now. Returns the result when that was everything; otherwise records the bytes sent.
 */
function fastPath(socket: net.Socket, t: Transfer): SendResult | undefined {
  if (streamReason(socket) || !t.regular || hasQueue(socket) || !isFlushed(socket)) return;
  const fd = socketFd(socket);
  if (fd === undefined || socket.destroyed) return;
  let sent: number;
  try {
    sent = kernel.sendFast(jobOf(fd, t), t.head);
    if (t.head && sent > 0) {
      const headSent = Math.min(sent, t.head.length);
      t.head = t.head.subarray(headSent);
      sent -= headSent;
    }
  } catch (err) {
    t.refused = kernel.refusal(err, t.choice.strategy);
    if (t.refused) return;
    socket.destroy();
    const moved = (err as { bytes?: number }).bytes ?? 0; // a write from a map that stopped being the file's
    throw leaseGone(t) ? leaseBroken(0, t.length, t.path) : withBytes(err as SystemError, moved);
  }
  // A copy stops at the first chunk read after the lease was given up: what went out is the file's, the rest never.
  if (leaseGone(t) && sent < t.length) {
    socket.destroy();
    throw leaseBroken(Math.max(sent, 0), t.length, t.path);
  }
  if (sent <= 0) return;
  t.sent = sent;
  if (sent < t.length) return;
  if (!t.kept?.lease.held && regularSize(t.inFd) < t.offset + t.length) {
    socket.destroy();
    throw fileTruncated(sent, t.length, t.path);
  }
  return resultOf(t, { bytes: sent, strategy: t.choice.strategy });
}

/**
 * Holds the socket's bytes back (TCP_CORK) so that what is written next leaves with the range after it; returns
 * what lets them go. Nothing to hold on a socket the kernel does not write, or that is gone.
 */
function corkAround(socket: net.Socket): (() => void) | undefined {
  const fd = streamReason(socket) ? undefined : socketFd(socket);
  if (fd === undefined || !cork(fd, true)) return undefined;
  return () => {
    if (socketFd(socket) === fd) cork(fd, false);
  };
}

function cork(fd: number, on: boolean): boolean {
  try {
    return kernel.setCork(fd, on);
  } catch {
    return false; // the socket is gone: nothing to hold back
  }
}

/** The lease was given up (the lease thread may act before JS hears of it). */
function leaseGone(t: Transfer): boolean {
  return t.lease !== undefined && !t.lease.held;
}

async function sendToFd(outFd: number, t: Transfer): Promise<SendResult> {
  if (copiesInJs(t)) return copyThrough(t, fdWriter(outFd, null, t.signal));
  return resultOf(t, await kernel.send(jobOf(outFd, t)));
}

async function sendToSocket(socket: net.Socket, io: SocketIo, t: Transfer): Promise<SendResult> {
  // Ended or destroyed while this transfer waited for its turn.
  const refusal = writeRefusal(socket, true);
  if (refusal) throw withBytes(refusal, t.sent);
  const fd = socketFd(socket);
  const inJs = copiesInJs(t) || streamReason(socket) !== undefined || fd === undefined;
  // The socket may have lost its fd while the transfer waited: what the kernel cannot write is copied.
  if (fd === undefined && t.choice.strategy !== 'copy') t.choice = { strategy: 'copy', reason: 'no-fd' };
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
    if (inJs) return await copyThrough({ ...t, signal }, (chunk) => socketWrite(socket, io, chunk, signal));
    return resultOf(t, await kernel.send(jobOf(fd!, { ...t, signal })));
  } catch (err) {
    // The socket closed under us (its 'close' may still be on its way), not by our own destroy() below.
    const closedUnderUs = closed.signal.aborted || socket.destroyed;
    const code = (err as SystemError).code;
    if (code === 'ERR_FILE_TRUNCATED' || code === 'ERR_LEASE_BROKEN' || code === 'ECONNRESET' || code === 'EPIPE') {
      socket.destroy();
    }
    if (closedUnderUs && !t.signal?.aborted) {
      // Report why (a reset peer), else that it closed early.
      throw withBytes(socketError ?? prematureClose(), (err as { bytes?: number }).bytes ?? t.sent);
    }
    throw err;
  } finally {
    socket.removeListener('close', onClose);
    socket.removeListener('error', onError);
  }
}

/** Writes through the socket's own write and waits while it asks us to (backpressure), fails, or is aborted. */
function socketWrite(socket: net.Socket, io: SocketIo, chunk: Buffer, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (socket.destroyed) {
      reject(prematureClose());
      return;
    }
    let settled = false;
    const done = (err?: Error | null) => {
      if (settled) return;
      settled = true;
      socket.removeListener('drain', onDrain);
      socket.removeListener('close', onClose);
      socket.removeListener('error', onError);
      signal.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = () => done();
    const onClose = () => done(prematureClose());
    const onError = (err: Error) => done(err);
    const onAbort = () => done(abortError(0, signal));
    socket.once('close', onClose);
    socket.once('error', onError);
    signal.addEventListener('abort', onAbort, { once: true });
    if (io.write(chunk, (err) => err && done(err))) done();
    else socket.once('drain', onDrain);
  });
}
