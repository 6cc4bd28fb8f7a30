// serveFile: one static file as an HTTP response, correct to RFC 9110 (validators, preconditions, ranges) and
// zero-copy on plain HTTP/1.1: Node writes the status line and headers, the body goes out by sendFile's strategy
// (sendfile(2) unless chosen otherwise) behind them through the socket's ordered output queue, and TCP_CORK makes headers and the first body bytes
// leave together. TLS goes through read/write; HTTP/2 through Node's respondWithFD.
import { once } from 'node:events';
import * as fs from 'node:fs';
import type * as http from 'node:http';
import type * as http2 from 'node:http2';
import type * as net from 'node:net';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { promisify } from 'node:util';
import { contentType } from 'mime-types';
import {
  type SystemError,
  fileTruncated,
  invalidArgType,
  invalidArgValue,
  leaseBroken,
  validateLength,
  validateOptions,
  validateSignal,
  withBytes,
} from '../errors';
import { type Lease, leaseFd } from '../lease';
import { type LeasePath, leasePathFor, untilAcked } from '../lease-path';
import { type HeldLease, sendOpenFile } from '../sendfile';
import { type FallbackReason, type Reason, type Strategy, type StrategyOption, copyRange, kernel,
  validateStrategy } from '../seam';
import { prematureClose, socketFd } from '../sockets';
import { countTransfer } from '../stats';
import { evaluatePreconditions, ifRangeHolds, validators } from './conditional';
import { multipart } from './multipart';
import { type ByteRange, overlapping, parseRange } from './ranges';
import { type Dotfiles, type Target, resolveTarget } from './resolve';

// node:http2 is loaded when an HTTP/2 response needs it (its caller has loaded it already): loading it when
// zerocopy is imported would turn the process's stderr non-blocking.
function internalError(): number {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('node:http2') as typeof http2).constants.NGHTTP2_INTERNAL_ERROR;
}

export interface ServeOptions {
  /** Serve `path` as a URL path inside this directory; nothing outside it is ever opened. */
  root?: string;
  /** Path segments starting with a dot: 'ignore' (404, the default), 'deny' (403) or 'allow'. */
  dotfiles?: Dotfiles;
  /** The file that serves a directory URL ending in '/'. Default 'index.html'; false for none. */
  index?: string | string[] | false;
  /** Cache-Control max-age in seconds (sets `Cache-Control: public, max-age=N`). */
  maxAge?: number;
  /** Adds `immutable` to Cache-Control (with maxAge). */
  immutable?: boolean;
  /** More ranges than this in one request get the whole file (200). Default 16. */
  maxRanges?: number;
  /** Hold a read lease while sending, so the body is the file as it was: true, or 'required' (503 without). */
  lease?: boolean | 'required';
  /** After a lease break, how long the response may go on before it is cut. Default 1000. */
  leaseGraceMs?: number;
  /** Bodies up to this size are read into memory and written with the headers in one write. */
  smallFileThreshold?: number;
  /** How the body moves, as sendFile's `strategy` (HTTP/1.x without TLS; default: configure()'s, else 'auto'). */
  strategy?: StrategyOption;
  signal?: AbortSignal;
}

export interface ServeResult {
  status: number;
  /** Body bytes sent (with multipart framing). */
  bytes: number;
  /** True when the body went without a copy through user space (sendfile, splice, mmap). */
  zeroCopy: boolean;
  /** The file served, when one was. */
  path?: string;
  /** With a body: the strategy that moved it ('copy' for TLS, HTTP/2, small files). */
  strategy?: Strategy;
  /** Why that strategy, as sendFile's `reason` ('forced', 'auto:<destination>', 'http2', 'small-file', ...). */
  strategyReason?: Reason;
  /** Why the body did not go zero-copy: 'tls', 'http2', 'small-file', 'no-binding', ... */
  fallbackReason?: FallbackReason;
  /** With a lease: how the body stayed the file's ('copy' or 'sendfile-until-acked', as sendFile's). */
  leasePath?: LeasePath;
  /** Why a request was refused (4xx). */
  reason?: string;
  /**
   * Set when the response was cut short, and the connection destroyed so that the client cannot take a partial
   * body for a whole one: ERR_FILE_TRUNCATED, ERR_LEASE_BROKEN, ABORT_ERR, or the client gone (ECONNRESET,
   * EPIPE, ERR_STREAM_PREMATURE_CLOSE). Also set, with status 500, for a failure before anything was sent.
   */
  error?: Error & { code?: string; bytes?: number };
}

export type Request = http.IncomingMessage | http2.Http2ServerRequest;
export type Response = http.ServerResponse | http2.Http2ServerResponse;

export interface ServeSettings {
  root?: string;
  dotfiles: Dotfiles;
  index: string[];
  cacheControl?: string;
  maxRanges: number;
  lease: false | true | 'required';
  leaseGraceMs: number;
  smallFileThreshold: number;
  strategy?: StrategyOption;
  signal?: AbortSignal;
}

/** Measured by `npm run bench -- --only http`: sendfile wins from the smallest files up. */
export const DEFAULT_SMALL_FILE_THRESHOLD = 0;
const readAsync = promisify(fs.read);

export function serveSettings(options: unknown, name = 'options'): ServeSettings {
  const opts = validateOptions<ServeOptions>(options, name);
  if (opts.root !== undefined && typeof opts.root !== 'string') throw invalidArgType(`${name}.root`, 'of type string', opts.root);
  const dotfiles = opts.dotfiles ?? 'ignore';
  if (dotfiles !== 'ignore' && dotfiles !== 'deny' && dotfiles !== 'allow') {
    throw invalidArgValue(`${name}.dotfiles`, opts.dotfiles, "must be 'ignore', 'deny' or 'allow'");
  }
  const index = opts.index === undefined ? ['index.html'] : opts.index === false ? [] :
    Array.isArray(opts.index) ? opts.index : [opts.index];
  if (index.some((i) => typeof i !== 'string' || i === '' || i.includes('/'))) {
    throw invalidArgValue(`${name}.index`, opts.index, 'must be a file name, a list of them, or false');
  }
  if (opts.lease !== undefined && typeof opts.lease !== 'boolean' && opts.lease !== 'required') {
    throw invalidArgValue(`${name}.lease`, opts.lease, "must be true, false or 'required'");
  }
  if (opts.immutable !== undefined && typeof opts.immutable !== 'boolean') {
    throw invalidArgType(`${name}.immutable`, 'of type boolean', opts.immutable);
  }
  const maxAge = opts.maxAge === undefined ? undefined : validateLength(opts.maxAge, `${name}.maxAge`);
  const maxRanges = opts.maxRanges === undefined ? 16 : validateLength(opts.maxRanges, `${name}.maxRanges`);
  return {
    root: opts.root === undefined ? undefined : path.resolve(opts.root),
    dotfiles,
    index,
    cacheControl: maxAge === undefined ? undefined : `public, max-age=${maxAge}${opts.immutable ? ', immutable' : ''}`,
    maxRanges,
    lease: opts.lease ?? false,
    leaseGraceMs: opts.leaseGraceMs === undefined ? 1000 : validateLength(opts.leaseGraceMs, `${name}.leaseGraceMs`),
    smallFileThreshold: opts.smallFileThreshold === undefined ? DEFAULT_SMALL_FILE_THRESHOLD :
      validateLength(opts.smallFileThreshold, `${name}.smallFileThreshold`),
    strategy: validateStrategy(opts.strategy, `${name}.strategy`),
    signal: validateSignal(opts.signal, `${name}.signal`),
  };
}

/**
 * Answers `req` with the file at `file` (a URL path under `options.root`, else a file path). Resolves once the
 * request is handled, whatever its status (404, 304, 206, ...); `result.error` says when the response was cut
 * short. Rejects only for invalid arguments, before anything is written: a client going away never becomes an
 * unhandled rejection.
 */
export async function serveFile(req: Request, res: Response, file: string, options?: ServeOptions): Promise<ServeResult> {
  if (typeof req !== 'object' || req === null || typeof req.headers !== 'object') {
    throw invalidArgType('req', 'an instance of http.IncomingMessage', req);
  }
  if (typeof res !== 'object' || res === null || typeof res.writeHead !== 'function') {
    throw invalidArgType('res', 'an instance of http.ServerResponse', res);
  }
  if (typeof file !== 'string') throw invalidArgType('path', 'of type string', file);
  const settings = serveSettings(options);
  if (!isReadMethod(req)) return methodNotAllowed(res);
  let target: Target;
  try {
    target = resolveTarget(file, settings);
  } catch (err) {
    return failed(res, err as Error);
  }
  return respondTarget(req, res, target, settings);
}

export function isReadMethod(req: Request): boolean {
  return req.method === 'GET' || req.method === 'HEAD';
}

export function methodNotAllowed(res: Response): ServeResult {
  return respondStatus(res, 405, 'method not allowed', { Allow: 'GET, HEAD' });
}

/**
 * Answers with what resolveTarget found (the static handler resolves first, to pass misses on). Never rejects:
 * a failure before the headers is a 500, one after them destroys the connection; both land in `result.error`.
 */
export async function respondTarget(req: Request, res: Response, target: Target, s: ServeSettings): Promise<ServeResult> {
  try {
    return await respond(req, res, target, s);
  } catch (err) {
    return failed(res, err as Error, target.kind === 'file' ? target.path : undefined);
  }
}

/** A failure before the headers is a 500; one after them destroys the connection. Both in `result.error`. */
export function failed(res: Response, error: Error & { bytes?: number }, file?: string): ServeResult {
  if (!res.headersSent) return { ...respondStatus(res, 500, 'internal server error'), error };
  cut(res);
  return { status: res.statusCode, bytes: error.bytes ?? 0, zeroCopy: false, path: file, error };
}

async function respond(req: Request, res: Response, target: Target, s: ServeSettings): Promise<ServeResult> {
  if (target.kind === 'refused') return respondStatus(res, target.status, target.reason);
  if (target.kind === 'redirect') {
    return respondStatus(res, 301, 'directory', { Location: target.location }, `Redirecting to ${target.location}\n`);
  }
  let lease: Lease | undefined;
  try {
    let stat = target.stat;
    if (s.lease) {
      try {
        lease = leaseFd(target.fd, 'read', true, s.leaseGraceMs, undefined, target.path);
        stat = fs.fstatSync(target.fd, { bigint: true }); // as the lease now keeps it
      } catch (err) {
        if (s.lease === 'required') {
          return respondStatus(res, 503, `no lease: ${(err as SystemError).code}`, { 'Retry-After': '1' });
        }
      }
    }
    return await respondFile(req, res, { fd: target.fd, path: target.path, stat, lease }, s);
  } finally {
    lease?.release();
    fs.closeSync(target.fd);
  }
}

interface OpenFile {
  fd: number;
  path: string;
  stat: fs.BigIntStats;
  lease?: Lease;
}

async function respondFile(req: Request, res: Response, file: OpenFile, s: ServeSettings): Promise<ServeResult> {
  const size = Number(file.stat.size);
  const v = validators(file.stat);
  const type = contentType(path.extname(file.path)) || 'application/octet-stream';
  res.setHeader('Accept-Ranges', 'bytes');
  res.setHeader('ETag', v.etag);
  res.setHeader('Last-Modified', v.lastModified);
  if (s.cacheControl && !res.hasHeader('Cache-Control')) res.setHeader('Cache-Control', s.cacheControl);
  const precondition = evaluatePreconditions(req.headers, v, req.method!);
  if (precondition === 304) return respondEmpty(res, 304, file.path);
  if (precondition === 412) return respondStatus(res, 412, 'precondition failed');
  if (!res.hasHeader('Content-Type')) res.setHeader('Content-Type', type);

  let ranges: ByteRange[] | undefined;
  if (req.method === 'GET' && ifRangeHolds(req.headers, v)) {
    const asked = parseRange(req.headers.range, size);
    if (asked.kind === 'unsatisfiable') {
      return respondStatus(res, 416, 'range not satisfiable', { 'Content-Range': `bytes */${size}` });
    }
    if (asked.kind === 'ranges' && asked.ranges.length <= s.maxRanges && !overlapping(asked.ranges)) {
      ranges = asked.ranges;
    }
  }
  const body = bodyOf(ranges, size, type);
  res.statusCode = ranges ? 206 : 200;
  if (ranges?.length === 1) res.setHeader('Content-Range', `bytes ${ranges[0].start}-${ranges[0].end}/${size}`);
  if (body.parts.length > 1) res.setHeader('Content-Type', body.contentType!);
  res.setHeader('Content-Length', body.length);
  const result: ServeResult = { status: res.statusCode, bytes: 0, zeroCopy: false, path: file.path };
  if (req.method === 'HEAD' || body.length === 0) {
    res.end();
    return result;
  }
  if (isHttp2(res)) return sendHttp2(res, file, body, s, result);
  if (body.parts.length === 1 && body.length <= s.smallFileThreshold && !file.lease) {
    return sendSmall(res, file, body.parts[0].range, result);
  }
  return sendZeroCopy(req as http.IncomingMessage, res, file, body, s, result);
}

interface Body {
  parts: { head?: Buffer; range: ByteRange }[];
  tail?: Buffer;
  length: number;
  contentType?: string;
}

function bodyOf(ranges: ByteRange[] | undefined, size: number, type: string): Body {
  if (!ranges) return { parts: [{ range: { start: 0, end: size - 1 } }], length: size };
  if (ranges.length === 1) return { parts: [{ range: ranges[0] }], length: ranges[0].end - ranges[0].start + 1 };
  const framing = multipart(ranges, type, size);
  return {
    parts: ranges.map((range, i) => ({ head: framing.heads[i], range })),
    tail: framing.tail,
    length: framing.length,
    contentType: framing.contentType,
  };
}

/** A response cut short: the connection destroyed (HTTP/1.x), the stream reset with an error code (HTTP/2), never
 * an end that looks clean. */
function cut(res: Response): void {
  if (isHttp2(res)) {
    if (!res.stream.closed) res.stream.close(internalError());
  } else {
    res.destroy();
  }
}

/** HTTP/1.x: headers by Node, corked; each part's framing by socket.write and its bytes by sendFile. */
async function sendZeroCopy(req: http.IncomingMessage, res: http.ServerResponse, file: OpenFile, body: Body,
  s: ServeSettings, result: ServeResult): Promise<ServeResult> {
  const socket = await assignedSocket(req, res);
  const corkFd = socket instanceof tls.TLSSocket ? undefined : socketFd(socket);
  const corked = corkFd !== undefined && cork(corkFd, true);
  let zeroCopy = true;
  let fallbackReason: FallbackReason | undefined;
  let choice: Pick<ServeResult, 'strategy' | 'strategyReason'> | undefined;
  const held: HeldLease | undefined = file.lease && { lease: file.lease, path: leasePathFor(socket) };
  if (held?.path === 'sendfile-until-acked') held.lease.guardSocket(socketFd(socket)!);
  try {
    res.writeHead(result.status);
    res.flushHeaders();
    for (const part of body.parts) {
      if (part.head) {
        socket.write(part.head);
        result.bytes += part.head.length;
      }
      if (file.lease?.broken) throw leaseBroken(result.bytes, body.length, file.path);
      const options = { offset: part.range.start, length: part.range.end - part.range.start + 1, signal: s.signal,
        strategy: s.strategy };
      let sent;
      try {
        sent = await sendOpenFile(socket, { fd: file.fd, path: file.path, size: Number(file.stat.size) }, options, held);
      } catch (err) {
        throw withBytes(err as Error, result.bytes + ((err as { bytes?: number }).bytes ?? 0));
      }
      result.bytes += sent.bytes;
      zeroCopy &&= sent.zeroCopy;
      // The first part's, unless a later one fell back.
      if (!choice || (sent.fallbackReason && !fallbackReason)) choice = { strategy: sent.strategy, strategyReason: sent.reason };
      fallbackReason ??= sent.fallbackReason;
    }
    if (body.tail) {
      socket.write(body.tail);
      result.bytes += body.tail.length;
    }
  } catch (err) {
    socket.destroy(); // a response cut short must not look whole
    throw err;
  } finally {
    if (corked && socketFd(socket) === corkFd) cork(corkFd, false);
  }
  if (held?.path === 'sendfile-until-acked') await untilAcked(socket, held.lease, result.bytes, body.length, file.path);
  res.end();
  if (held) result.leasePath = held.path;
  result.zeroCopy = zeroCopy;
  Object.assign(result, choice);
  if (fallbackReason) result.fallbackReason = fallbackReason;
  return result;
}

function cork(fd: number, on: boolean): boolean {
  try {
    return kernel.setCork(fd, on);
  } catch {
    return false; // the socket is gone: nothing to hold back
  }
}

/** A pipelined response waits for the ones before it to finish before Node gives it the socket. */
async function assignedSocket(req: http.IncomingMessage, res: http.ServerResponse) {
  if (res.socket) return res.socket;
  const ac = new AbortController();
  try {
    await Promise.race([once(res, 'socket', { signal: ac.signal }), once(req, 'close', { signal: ac.signal })]);
  } finally {
    ac.abort();
  }
  const socket = res.socket as net.Socket | null; // assigned meanwhile
  if (!socket || socket.destroyed) throw prematureClose();
  return socket;
}

/** A small body: read, then written with the headers in one write by Node. */
async function sendSmall(res: Response, file: OpenFile, range: ByteRange, result: ServeResult): Promise<ServeResult> {
  const length = range.end - range.start + 1;
  const chunk = Buffer.allocUnsafe(length);
  const { bytesRead } = await readAsync(file.fd, chunk, 0, length, range.start);
  if (bytesRead < length) {
    res.destroy();
    throw fileTruncated(0, length, file.path);
  }
  await new Promise<void>((resolve, reject) => {
    (res as http.ServerResponse).end(chunk, () => resolve());
    res.once('close', () => (res.writableFinished ? resolve() : reject(withBytes(prematureClose(), 0))));
  });
  return copied(result, length, 'small-file');
}

function isHttp2(res: Response): res is http2.Http2ServerResponse {
  return 'stream' in res && typeof (res as http2.Http2ServerResponse).stream?.respondWithFD === 'function';
}

/**
 * HTTP/2: Node reads the file for one range (respondWithFD); multipart or leased bodies are written here (read
 * into buffers: a lease's 'copy' path). A body cut short resets the stream with an error code.
 */
async function sendHttp2(res: http2.Http2ServerResponse, file: OpenFile, body: Body, s: ServeSettings,
  result: ServeResult): Promise<ServeResult> {
  const stream = res.stream;
  // Resetting the stream (ours, or the client's) emits 'error': what it says is reported, never thrown.
  let streamError: Error | undefined;
  stream.on('error', (err) => (streamError ??= err));
  const closed = new Promise((resolve) => stream.once('close', resolve));
  if (body.parts.length === 1 && !file.lease) {
    const { start, end } = body.parts[0].range;
    const headers: http2.OutgoingHttpHeaders = { ...res.getHeaders(), ':status': result.status };
    // Node ends the stream cleanly even when the file ran out early: the end (the response's trailers, which
    // the compatibility layer sends when asked) waits until the file is seen whole.
    let truncated: Error | undefined;
    const sendTrailers = stream.listeners('wantTrailers') as (() => void)[];
    stream.removeAllListeners('wantTrailers');
    stream.once('wantTrailers', () => {
      const size = Number(fs.fstatSync(file.fd).size);
      if (size >= end + 1) {
        if (sendTrailers.length === 0) stream.sendTrailers({});
        for (const send of sendTrailers) send.call(stream);
        return;
      }
      truncated = fileTruncated(Math.max(0, size - start), body.length, file.path);
      stream.close(internalError());
    });
    stream.respondWithFD(file.fd, headers, { offset: start, length: body.length, waitForTrailers: true });
    await closed;
    if (truncated) throw truncated;
    if (stream.rstCode !== 0 || !stream.writableFinished) throw withBytes(streamError ?? prematureClose(), 0);
    return copied(result, body.length, 'http2');
  }
  res.writeHead(result.status);
  for (const part of body.parts) {
    if (part.head) await write(res, part.head);
    await copyPart(res, file, part.range, s.signal);
  }
  if (body.tail) await write(res, body.tail);
  res.end();
  await closed;
  if (streamError) throw withBytes(streamError, 0);
  return { ...copied(result, body.length, 'http2'), ...(file.lease && { leasePath: 'copy' as const }) };
}

/** A body Node wrote (the 'copy' strategy), counted like sendFile's transfers. */
function copied(result: ServeResult, bytes: number, reason: 'small-file' | 'http2'): ServeResult {
  countTransfer('copy', reason);
  return { ...result, bytes, strategy: 'copy', strategyReason: reason, fallbackReason: reason };
}

/** One range through the 'copy' strategy into the HTTP/2 stream; a range cut short resets it. */
async function copyPart(res: http2.Http2ServerResponse, file: OpenFile, range: ByteRange, signal?: AbortSignal) {
  try {
    await copyRange({ inFd: file.fd, offset: range.start, length: range.end - range.start + 1, path: file.path,
      signal, lease: file.lease }, (chunk) => write(res, chunk));
  } catch (err) {
    cut(res);
    throw err;
  }
}

function write(res: http2.Http2ServerResponse, chunk: Buffer): Promise<void> {
  if (res.write(chunk)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onDrain = () => {
      res.stream.off('close', onClose);
      resolve();
    };
    const onClose = () => {
      res.off('drain', onDrain);
      reject(prematureClose());
    };
    res.once('drain', onDrain);
    res.stream.once('close', onClose);
  });
}

/** A status with no body (304: the validators were set already). */
function respondEmpty(res: Response, status: number, file: string): ServeResult {
  res.removeHeader('Content-Type');
  res.removeHeader('Content-Length');
  res.writeHead(status);
  res.end();
  return { status, bytes: 0, zeroCopy: false, path: file };
}

/** A short text answer: errors, refusals, redirects. */
export function respondStatus(res: Response, status: number, reason: string, headers: Record<string, string> = {},
  text = `${status === 416 || status === 412 ? '' : `${reason[0].toUpperCase()}${reason.slice(1)}\n`}`): ServeResult {
  const body = Buffer.from(text);
  for (const name of ['ETag', 'Last-Modified', 'Accept-Ranges']) res.removeHeader(name);
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.setHeader('Content-Length', body.length);
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.writeHead(status);
  res.end(body);
  return { status, bytes: body.length, zeroCopy: false, reason };
}
