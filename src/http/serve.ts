// serveFile: one static file as an HTTP response, correct to RFC 9110 (validators, preconditions, ranges) and
// zero-copy on plain HTTP/1.1: Node writes the status line and headers, the body goes out by sendFile's strategy
// (sendfile(2) unless chosen otherwise) behind them through the socket's ordered output queue, and TCP_CORK makes headers and the first body bytes
// leave together. TLS goes through read/write; HTTP/2 through Node's respondWithFD.
import { EventEmitter, once } from 'node:events';
import * as fs from 'node:fs';
import type * as http from 'node:http';
import type * as http2 from 'node:http2';
import * as net from 'node:net';
import * as path from 'node:path';
import { promisify } from 'node:util';
import {
  type SystemError,
  abortError,
  fileTruncated,
  invalidArgType,
  invalidArgValue,
  leaseBroken,
  outOfRange,
  validateLength,
  validateOptions,
  withBytes,
} from '../errors';
import { type Lease, leaseFd } from '../lease';
import { type LeasePath, leasePathFor, untilAcked } from '../lease-path';
import { type HeldLease, type Kept, type SendResult, sendOpenFile, sendOpenFileNow } from '../sendfile';
import { type FallbackReason, type Reason, type Strategy, type StrategyOption, copyRange,
  validateStrategy } from '../seam';
import { countBodyBytes, forbidsBody, prematureClose, reframing, socketFd } from '../sockets';
import { countTransfer } from '../stats';
import { type Validators, evaluatePreconditions, ifRangeHolds, validators } from './conditional';
import { multipart } from './multipart';
import { type ByteRange, overlapping, parseRange } from './ranges';
import { maxAgeSeconds } from './max-age';
import { type Encoding, precompressedVariant, validatePrecompressed } from './precompressed';
import { type Dotfiles, type Target, closeTarget, resolveTarget } from './resolve';
import { DEFAULT_FILE_CACHE, type FileCache, MAX_FILE_CACHE, sharedFileCache, typeOf } from './file-cache';

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
  /** Tried in order for a path that names nothing: `['html']` serves `/about` from `about.html`. */
  extensions?: string[] | false;
  /** A directory asked for without its trailing slash is redirected (301, the default) or, false, 404. */
  redirect?: boolean;
  /** Cache-Control max-age: seconds, or a duration string ('1d'); capped at one year. */
  maxAge?: number | string;
  /** Adds `immutable` to Cache-Control (with maxAge). */
  immutable?: boolean;
  /** false: no Cache-Control header of ours. */
  cacheControl?: boolean;
  /** false: no ETag (nor If-None-Match / If-Match against one). */
  etag?: boolean;
  /** false: no Last-Modified (nor the date preconditions). */
  lastModified?: boolean;
  /** false: no Accept-Ranges, and Range requests get the whole file. */
  acceptRanges?: boolean;
  /**
   * Serve `x.br` / `x.gz` beside `x` when the request's Accept-Encoding takes it: true (br, then gzip), or the
   * encodings in the order preferred. With the original's Content-Type and `Vary: Accept-Encoding`.
   */
  precompressed?: boolean | Encoding[];
  /** Called before our headers are set, with the file's path and stat; headers it sets are kept. */
  setHeaders?: (res: Response, path: string, stat: fs.Stats) => void;
  /** serveFile: the first and last byte served (inclusive), as if the file were only them. */
  start?: number;
  end?: number;
  /**
   * serveFile: an error status (4xx, or 500 before anything was sent) is left to this hook instead of answered,
   * for a page of the caller's own; `res` is untouched and the result carries the status and reason.
   */
  onError?: (error: { status: number; reason: string; error?: Error }, res: Response) => void;
  /** More ranges than this in one request get the whole file (200). Default 16. */
  maxRanges?: number;
  /** Hold a read lease while sending, so the body is the file as it was: true, or 'required' (503 without). */
  lease?: boolean | 'required';
  /** After a lease break, how long the response may go on before it is cut. Default 1000. */
  leaseGraceMs?: number;
  /**
   * Files kept open between requests (fd, stat, validators), dropped when a writer opens one or a name on its
   * path changes: at most this many (default 128, two fds each), or false for none. serveFile's calls share one
   * cache (the last size given wins); each createStaticHandler has its own. Not used with `lease`.
   */
  fileCache?: boolean | number;
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
  extensions: string[];
  redirect: boolean;
  cacheControl?: string;
  etag: boolean;
  lastModified: boolean;
  acceptRanges: boolean;
  setHeaders?: ServeOptions['setHeaders'];
  precompressed: Encoding[];
  start: number;
  end?: number;
  onError?: ServeOptions['onError'];
  maxRanges: number;
  lease: false | true | 'required';
  leaseGraceMs: number;
  /** The size asked for: serveFile and the handler pick the cache itself (`cache`). */
  fileCache: number | false;
  cache?: FileCache;
  smallFileThreshold: number;
  strategy?: StrategyOption;
  signal?: AbortSignal;
}

/** Measured by `npm run bench -- --only http`: sendfile wins from the smallest files up. */
export const DEFAULT_SMALL_FILE_THRESHOLD = 0;
const readAsync = promisify(fs.read);

/**
 * Every option serveFile takes. Anything else is refused: a typo or another library's option (serve-static's
 * `fallthrough` given to serveFile) must not pass silently. `strategy` is validated where it is used.
 */
export const SERVE_OPTIONS: readonly string[] = ['root', 'dotfiles', 'index', 'extensions', 'redirect', 'maxAge',
  'immutable', 'cacheControl', 'etag', 'lastModified', 'acceptRanges', 'setHeaders', 'precompressed', 'maxRanges',
  'lease', 'leaseGraceMs', 'fileCache', 'smallFileThreshold', 'strategy', 'start', 'end', 'onError', 'signal'];

const BOOLEAN_OPTIONS = ['redirect', 'immutable', 'cacheControl', 'etag', 'lastModified', 'acceptRanges'] as const;

export function serveSettings(options: unknown, name = 'options', known = SERVE_OPTIONS): ServeSettings {
  const opts = validateOptions<ServeOptions>(options, name);
  const unknown = Object.keys(opts).find((key) => !known.includes(key));
  if (unknown !== undefined) {
    throw invalidArgValue(`${name}.${unknown}`, (opts as Record<string, unknown>)[unknown],
      `is not an option (the known ones: ${known.join(', ')})`);
  }
  for (const key of BOOLEAN_OPTIONS) {
    if (opts[key] !== undefined && typeof opts[key] !== 'boolean') {
      throw invalidArgType(`${name}.${key}`, 'of type boolean', opts[key]);
    }
  }
  if (opts.signal !== undefined && !(opts.signal instanceof AbortSignal)) {
    throw invalidArgType(`${name}.signal`, 'an instance of AbortSignal', opts.signal);
  }
  for (const key of ['setHeaders', 'onError'] as const) {
    if (opts[key] !== undefined && typeof opts[key] !== 'function') {
      throw invalidArgType(`${name}.${key}`, 'of type function', opts[key]);
    }
  }
  const extensions = opts.extensions === undefined || opts.extensions === false ? [] : opts.extensions;
  if (!Array.isArray(extensions) || extensions.some((e) => typeof e !== 'string' || e === '' || /[/\\]/.test(e))) {
    throw invalidArgValue(`${name}.extensions`, opts.extensions, "must be a list such as ['html'], or false");
  }
  const start = opts.start === undefined ? 0 : validateLength(opts.start, `${name}.start`);
  const end = opts.end === undefined ? undefined : validateLength(opts.end, `${name}.end`);
  if (end !== undefined && end < start) throw invalidArgValue(`${name}.end`, end, `must be >= ${name}.start (${start})`);
  if (opts.root !== undefined && typeof opts.root !== 'string') throw invalidArgType(`${name}.root`, 'of type string', opts.root);
  const dotfiles = opts.dotfiles ?? 'ignore';
  if (dotfiles !== 'ignore' && dotfiles !== 'deny' && dotfiles !== 'allow') {
    throw invalidArgValue(`${name}.dotfiles`, opts.dotfiles, "must be 'ignore', 'deny' or 'allow'");
  }
  const index = opts.index === undefined ? ['index.html'] : opts.index === false ? [] :
    Array.isArray(opts.index) ? [...opts.index] : [opts.index];
  if (index.some((i) => typeof i !== 'string' || i === '' || i.includes('/'))) {
    throw invalidArgValue(`${name}.index`, opts.index, 'must be a file name, a list of them, or false');
  }
  if (opts.lease !== undefined && typeof opts.lease !== 'boolean' && opts.lease !== 'required') {
    throw invalidArgValue(`${name}.lease`, opts.lease, "must be true, false or 'required'");
  }
  const maxAge = opts.maxAge === undefined ? undefined : maxAgeSeconds(opts.maxAge, `${name}.maxAge`);
  const fileCache = fileCacheSize(opts.fileCache, `${name}.fileCache`);
  const maxRanges = opts.maxRanges === undefined ? 16 : validateLength(opts.maxRanges, `${name}.maxRanges`);
  return {
    root: opts.root === undefined ? undefined : path.resolve(opts.root),
    dotfiles,
    index,
    extensions: extensions.map((e) => e.replace(/^\./, '')),
    redirect: opts.redirect ?? true,
    cacheControl: maxAge === undefined || opts.cacheControl === false ? undefined :
      `public, max-age=${maxAge}${opts.immutable ? ', immutable' : ''}`,
    etag: opts.etag ?? true,
    lastModified: opts.lastModified ?? true,
    acceptRanges: opts.acceptRanges ?? true,
    setHeaders: opts.setHeaders,
    precompressed: validatePrecompressed(opts.precompressed, `${name}.precompressed`),
    start,
    end,
    onError: opts.onError,
    maxRanges,
    lease: opts.lease ?? false,
    leaseGraceMs: opts.leaseGraceMs === undefined ? 1000 : validateLength(opts.leaseGraceMs, `${name}.leaseGraceMs`),
    // A response under a lease needs an open file description of its own: one lease per description, and the
    // cache's gives way at once where the response's holds the writer back.
    fileCache: opts.lease ? false : fileCache,
    smallFileThreshold: opts.smallFileThreshold === undefined ? DEFAULT_SMALL_FILE_THRESHOLD :
      validateLength(opts.smallFileThreshold, `${name}.smallFileThreshold`),
    strategy: validateStrategy(opts.strategy, `${name}.strategy`),
    // Aborted already is no bad argument: serveFile answers it as an abort (result.error), never a rejection.
    signal: opts.signal,
  };
}

function fileCacheSize(value: unknown, name: string): number | false {
  if (value === undefined || value === true) return DEFAULT_FILE_CACHE;
  if (value === false) return false;
  if (typeof value !== 'number') throw invalidArgType(name, 'of type boolean or number', value);
  if (!Number.isInteger(value) || value < 1 || value > MAX_FILE_CACHE) {
    throw outOfRange(name, `an integer from 1 to ${MAX_FILE_CACHE}, or false`, value);
  }
  return value;
}

/** The cache closes its files when the server that served them closes. */
export function keepOpenFor(req: Request, cache: FileCache): void {
  const server = (req.socket as (net.Socket & { server?: unknown }) | undefined)?.server;
  cache.servedBy(server instanceof EventEmitter ? server : undefined);
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
  const settings = settingsFor(options);
  if (settings.signal?.aborted) return failed(res, abortError(0, settings.signal));
  if (!isReadMethod(req)) return methodNotAllowed(res);
  if (settings.fileCache !== false) {
    sharedFileCache.resize(settings.fileCache);
    settings.cache = sharedFileCache;
    keepOpenFor(req, sharedFileCache);
  }
  let target: Target;
  try {
    target = resolveTarget(file, settings);
  } catch (err) {
    return failed(res, err as Error, undefined, settings);
  }
  // Awaited: a promise returned as it is from an async function costs two more microtask turns.
  return await respondTarget(req, res, target, settings);
}

/**
 * serveFile's settings for the options it was last given, when these are the same by value: callers pass a fresh
 * literal per request (`{ root }`), and comparing it costs less than validating it again. Only a plain object whose
 * values are primitives or functions is remembered (an array or object could change inside between calls), and
 * only with an absolute root or none (a relative one follows the working directory).
 */
let remembered: { keys: string[]; values: unknown[]; settings: ServeSettings } | undefined;

function settingsFor(options: unknown): ServeSettings {
  if (remembered && sameOptions(options, remembered.keys, remembered.values)) return remembered.settings;
  const settings = serveSettings(options);
  remembered = undefined;
  if (typeof options !== 'object' || options === null || Object.getPrototypeOf(options) !== Object.prototype) {
    return settings;
  }
  const keys = Object.keys(options);
  const values = keys.map((key) => (options as Record<string, unknown>)[key]);
  const root = (options as ServeOptions).root;
  if (values.every((v) => v === null || (typeof v !== 'object')) && (root === undefined || path.isAbsolute(root))) {
    remembered = { keys, values, settings };
  }
  return settings;
}

function sameOptions(options: unknown, keys: string[], values: unknown[]): boolean {
  if (typeof options !== 'object' || options === null || Object.getPrototypeOf(options) !== Object.prototype) return false;
  let i = 0;
  for (const key in options) {
    if (key !== keys[i] || (options as Record<string, unknown>)[key] !== values[i]) return false;
    i++;
  }
  return i === keys.length;
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
    return failed(res, err as Error, target.kind === 'file' ? target.path : undefined, s);
  }
}

/** A failure before the headers is a 500; one after them destroys the connection. Both in `result.error`. */
export function failed(res: Response, error: Error & { bytes?: number }, file?: string, s?: ServeSettings): ServeResult {
  // An abort before anything was sent (a signal aborted already) is a response cut short, not a server error.
  if (!res.headersSent && (error as { code?: string }).code !== 'ABORT_ERR') {
    return { ...respondError(res, s, 500, 'internal server error', {}, error), error };
  }
  cut(res);
  return { status: res.statusCode, bytes: error.bytes ?? 0, zeroCopy: false, path: file, error };
}

async function respond(req: Request, res: Response, target: Target, s: ServeSettings): Promise<ServeResult> {
  if (target.kind === 'refused') return respondError(res, s, target.status, target.reason);
  if (target.kind === 'redirect') {
    return respondStatus(res, 301, 'directory', { Location: target.location }, `Redirecting to ${target.location}\n`);
  }
  let typePath: string | undefined;
  let lease: Lease | undefined;
  // Everything from here gives the file back, also a setHeader that throws (headers already sent by a caller).
  try {
    if (s.precompressed.length > 0) {
      const vary = res.getHeader('Vary');
      if (vary === undefined) res.setHeader('Vary', 'Accept-Encoding');
      else if (!/(?:^|,)\s*(?:accept-encoding|\*)\s*(?:,|$)/i.test(String(vary))) {
        res.setHeader('Vary', `${String(vary)}, Accept-Encoding`);
      }
      const variant = precompressedVariant(req.headers['accept-encoding'], target, s.precompressed, s.root);
      if (variant) {
        closeTarget(target);
        [target, typePath] = [variant.target, target.path];
        res.setHeader('Content-Encoding', variant.encoding);
      }
    }
    let stat = target.stat;
    if (s.lease) {
      try {
        lease = leaseFd(target.fd, 'read', true, s.leaseGraceMs, undefined, target.path);
        stat = fs.fstatSync(target.fd, { bigint: true }); // as the lease now keeps it
      } catch (err) {
        if (s.lease === 'required') {
          return respondError(res, s, 503, `no lease: ${(err as SystemError).code}`, { 'Retry-After': '1' });
        }
      }
    }
    return await respondFile(req, res, { fd: target.fd, path: target.path, typePath, stat, lease,
      validators: target.cached?.validators, type: target.cached?.type, kept: target.cached }, s);
  } finally {
    lease?.release();
    closeTarget(target);
  }
}

interface OpenFile {
  fd: number;
  path: string;
  /** The path whose extension gives the Content-Type: the original's, for a precompressed variant. */
  typePath?: string;
  stat: fs.BigIntStats;
  lease?: Lease;
  /** The stat's validators and the path's Content-Type, computed once by the file cache. */
  validators?: Validators;
  type?: string;
  /** How the file cache keeps it. */
  kept?: Kept;
}

async function respondFile(req: Request, res: Response, file: OpenFile, s: ServeSettings): Promise<ServeResult> {
  // A non-2xx status the caller set (a custom 404 page) is kept, whole, with no preconditions: as send does. So is
  // a 204; it, a 1xx and a 304 are answered without a body.
  const kept = res.statusCode < 200 || res.statusCode > 299 || res.statusCode === 204 ? res.statusCode : undefined;
  const fileSize = Number(file.stat.size);
  // start/end: the file is only those bytes (ranges count from start), as send's options.
  const size = Math.max(0, Math.min(fileSize - 1, s.end ?? Infinity) - s.start + 1);
  const v = file.validators ?? validators(file.stat);
  const type = file.type ?? typeOf(file.typePath ?? file.path);
  s.setHeaders?.(res, file.path, fs.fstatSync(file.fd));
  if (s.acceptRanges && !res.hasHeader('Accept-Ranges')) res.setHeader('Accept-Ranges', 'bytes');
  if (s.etag && !res.hasHeader('ETag')) res.setHeader('ETag', v.etag);
  if (s.lastModified && !res.hasHeader('Last-Modified')) res.setHeader('Last-Modified', v.lastModified);
  if (s.cacheControl && !res.hasHeader('Cache-Control')) res.setHeader('Cache-Control', s.cacheControl);
  const compared = sentValidators(res, v);
  if (kept !== undefined && forbidsBody(kept)) return respondEmpty(res, kept, file.path);
  const precondition = kept ? 'proceed' : evaluatePreconditions(req.headers, compared, req.method!);
  if (precondition === 304) return respondEmpty(res, 304, file.path);
  if (precondition === 412) return respondError(res, s, 412, 'precondition failed');
  if (!res.hasHeader('Content-Type')) res.setHeader('Content-Type', type);

  let ranges: ByteRange[] | undefined;
  if (req.method === 'GET' && !kept && s.acceptRanges && ifRangeHolds(req.headers, compared)) {
    const asked = parseRange(req.headers.range, size);
    if (asked.kind === 'unsatisfiable') {
      return respondError(res, s, 416, 'range not satisfiable', { 'Content-Range': `bytes */${size}` });
    }
    if (asked.kind === 'ranges' && asked.ranges.length <= s.maxRanges && !overlapping(asked.ranges)) {
      ranges = asked.ranges;
    }
  }
  const body = bodyOf(ranges, size, type, s.start);
  res.statusCode = kept ?? (ranges ? 206 : 200);
  if (ranges?.length === 1) res.setHeader('Content-Range', `bytes ${ranges[0].start}-${ranges[0].end}/${size}`);
  if (body.parts.length > 1) res.setHeader('Content-Type', body.contentType!);
  res.setHeader('Content-Length', body.length);
  const result: ServeResult = { status: res.statusCode, bytes: 0, zeroCopy: false, path: file.path };
  if (req.method === 'HEAD' || body.length === 0) {
    res.end();
    return result;
  }
  if (isHttp2(res)) return sendHttp2(res, file, body, s, result);
  if (!((res.socket ?? req.socket) instanceof net.Socket)) return sendWithoutSocket(res, file, body, s, result);
  if (body.parts.length === 1 && body.length <= s.smallFileThreshold && !file.lease) {
    return sendSmall(res, file, body.parts[0].range, result);
  }
  return await sendZeroCopy(req as http.IncomingMessage, res, file, body, s, result); // awaited: see serveFile
}

/**
 * The validators the response carries (ours, or the caller's from setHeaders): preconditions are evaluated against
 * what the client was given, as send does. None set (turned off): an empty tag matches no tag, NaN no date.
 */
function sentValidators(res: Response, ours: Validators): Validators {
  const etag = res.getHeader('ETag');
  const lastModified = res.getHeader('Last-Modified');
  if (etag === ours.etag && lastModified === ours.lastModified) return ours; // no date to parse again
  const ms = lastModified === undefined ? NaN : Date.parse(String(lastModified));
  return {
    etag: etag === undefined ? '' : String(etag),
    lastModified: String(lastModified ?? ''),
    mtimeSeconds: Math.floor(ms / 1000),
  };
}

/**
 * No socket to send a file to (fastify.inject, light-my-request, a mocked response): the body is read into
 * buffers and written through the response.
 */
function sendWithoutSocket(res: http.ServerResponse, file: OpenFile, body: Body, s: ServeSettings,
  result: ServeResult): Promise<ServeResult> {
  res.writeHead(result.status);
  return sendThroughResponse(res, file, body, s, result, 'no-socket');
}

/** The copy path: the body read into buffers and written with res.write, so the response frames it as it must. */
async function sendThroughResponse(res: http.ServerResponse, file: OpenFile, body: Body, s: ServeSettings,
  result: ServeResult, reason: 'no-socket' | 'response-patched' | 'response-reframed'): Promise<ServeResult> {
  await writeParts(res, file, body, s.signal);
  return copied(result, body.length, reason);
}

interface Body {
  parts: { head?: Buffer; range: ByteRange }[];
  tail?: Buffer;
  length: number;
  contentType?: string;
}

/** The parts to send: `ranges` of the served bytes, read from the file at `base` (options.start) on. */
function bodyOf(ranges: ByteRange[] | undefined, size: number, type: string, base: number): Body {
  const at = (r: ByteRange): ByteRange => ({ start: r.start + base, end: r.end + base });
  if (!ranges) return { parts: [{ range: at({ start: 0, end: size - 1 }) }], length: size };
  if (ranges.length === 1) return { parts: [{ range: at(ranges[0]) }], length: ranges[0].end - ranges[0].start + 1 };
  const framing = multipart(ranges, type, size);
  return {
    parts: ranges.map((range, i) => ({ head: framing.heads[i], range: at(range) })),
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

/**
 * HTTP/1.x: the headers as Node built them, then each part's framing and bytes, by sendFile: each part's bytes
 * leave with what goes before them (one writev, or send(MSG_MORE) then sendfile; else corked).
 */
async function sendZeroCopy(req: http.IncomingMessage, res: http.ServerResponse, file: OpenFile, body: Body,
  s: ServeSettings, result: ServeResult): Promise<ServeResult> {
  const socket = res.socket ?? await assignedSocket(req, res);
  // writeHead sends nothing yet: it runs the hooks that make the headers final (compression's), then we look.
  const reframed = reframing(res, body.length, () => res.writeHead(result.status));
  if (reframed) return sendThroughResponse(res, file, body, s, result, reframed);
  let head = takeHeaders(res);
  let zeroCopy = true;
  let fallbackReason: FallbackReason | undefined;
  let choice: Pick<ServeResult, 'strategy' | 'strategyReason'> | undefined;
  const held: HeldLease | undefined = file.lease && { lease: file.lease, path: leasePathFor(socket) };
  if (held?.path === 'sendfile-until-acked') held.lease.guardSocket(socketFd(socket)!);
  try {
    for (const part of body.parts) {
      const before = part.head && head ? Buffer.concat([head, part.head]) : part.head ?? head;
      head = undefined;
      result.bytes += part.head?.length ?? 0;
      // `held` is the lease thread's own word: it may have given the lease up (a writer is changing the file)
      // before JS heard of the break.
      if (file.lease && (file.lease.broken || !file.lease.held)) {
        if (before) socket.write(before); // the client sees a short response, never one missing its headers
        throw leaseBroken(result.bytes, body.length, file.path);
      }
      const open = { fd: file.fd, path: file.path, size: Number(file.stat.size), kept: file.kept };
      const offset = part.range.start;
      const length = part.range.end - offset + 1;
      let sent: SendResult;
      let movedNow = 0; // by the fast path, before sendOpenFile took on from there
      try {
        // Without a lease, the common case (the socket takes it all now) costs no promise.
        const now = held ? { sent: 0, head: before }
          : sendOpenFileNow(socket, open, offset, length, s.strategy, before);
        if ('bytes' in now) sent = now;
        else {
          movedNow = now.sent;
          const rest = await sendOpenFile(socket, open, { offset: offset + now.sent, length: length - now.sent,
            signal: s.signal, strategy: s.strategy }, held, now.head);
          sent = { ...rest, bytes: now.sent + rest.bytes };
        }
      } catch (err) {
        throw withBytes(err as Error, result.bytes + movedNow + ((err as { bytes?: number }).bytes ?? 0));
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
  }
  if (held?.path === 'sendfile-until-acked') await untilAcked(socket, held.lease, result.bytes, body.length, file.path);
  countBodyBytes(res, result.bytes);
  res.end();
  if (held) result.leasePath = held.path;
  result.zeroCopy = zeroCopy;
  Object.assign(result, choice);
  if (fallbackReason) result.fallbackReason = fallbackReason;
  return result;
}

/**
 * The status line and headers writeHead built, taken over from Node (which then sends no header of its own): in
 * latin1, as Node writes them before a Buffer body. They go out with the body's first bytes. Undefined when Node
 * has sent them already (a writeHead hook that flushes them): they are in the socket's queue, ahead of the body.
 */
function takeHeaders(res: http.ServerResponse): Buffer | undefined {
  const state = res as unknown as { _header: string; _headerSent: boolean };
  if (state._headerSent) return undefined;
  state._headerSent = true;
  return Buffer.from(state._header, 'latin1');
}

/** A pipelined response waits for the ones before it to finish before Node gives it the socket. */
async function assignedSocket(req: http.IncomingMessage, res: http.ServerResponse) {
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
    try {
      stream.respondWithFD(file.fd, headers, { offset: start, length: body.length, waitForTrailers: true });
    } catch (err) {
      // Refused (a stream gone, a status without a body): the response's own trailers listener back, never ours,
      // which would fstat an fd closed by then.
      stream.removeAllListeners('wantTrailers');
      for (const send of sendTrailers) stream.on('wantTrailers', send);
      throw err;
    }
    await closed;
    if (truncated) throw truncated;
    if (stream.rstCode !== 0 || !stream.writableFinished) throw withBytes(streamError ?? prematureClose(), 0);
    return copied(result, body.length, 'http2');
  }
  res.writeHead(result.status);
  await writeParts(res, file, body, s.signal);
  await closed;
  if (streamError) throw withBytes(streamError, 0);
  return { ...copied(result, body.length, 'http2'), ...(file.lease && { leasePath: 'copy' as const }) };
}

/** Each part of a body (its multipart head, its range through the 'copy' strategy), then the end. */
async function writeParts(res: Response, file: OpenFile, body: Body, signal?: AbortSignal): Promise<void> {
  for (const part of body.parts) {
    if (part.head) await write(res, part.head);
    await copyPart(res, file, part.range, signal);
  }
  if (body.tail) await write(res, body.tail);
  res.end();
}

/** A body Node wrote (the 'copy' strategy), counted like sendFile's transfers. */
function copied(result: ServeResult, bytes: number, reason: 'small-file' | 'http2' | 'no-socket' | 'response-patched' |
  'response-reframed'): ServeResult {
  countTransfer('copy', reason);
  return { ...result, bytes, strategy: 'copy', strategyReason: reason, fallbackReason: reason };
}

/** One range through the 'copy' strategy into a response (HTTP/2, or one without a socket); a range cut short cuts it. */
async function copyPart(res: Response, file: OpenFile, range: ByteRange, signal?: AbortSignal) {
  try {
    await copyRange({ inFd: file.fd, offset: range.start, length: range.end - range.start + 1, path: file.path,
      signal, lease: file.lease }, (chunk) => write(res, chunk));
  } catch (err) {
    cut(res);
    throw err;
  }
}

function write(res: Response, chunk: Buffer): Promise<void> {
  if ((res as http.ServerResponse).write(chunk)) return Promise.resolve();
  const closes = isHttp2(res) ? res.stream : res;
  return new Promise((resolve, reject) => {
    const onDrain = () => {
      closes.off('close', onClose);
      resolve();
    };
    const onClose = () => {
      res.off('drain', onDrain);
      reject(prematureClose());
    };
    res.once('drain', onDrain);
    closes.once('close', onClose);
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

/** An error status, answered, or left to the caller's `onError` hook. */
function respondError(res: Response, s: ServeSettings | undefined, status: number, reason: string,
  headers: Record<string, string> = {}, error?: Error): ServeResult {
  if (!s?.onError) return respondStatus(res, status, reason, headers);
  try {
    s.onError(error ? { status, reason, error } : { status, reason }, res);
  } catch (err) {
    // The hook's own failure: reported as the result's error, the status answered by us, the hook never called again.
    if (res.headersSent) cut(res);
    else respondStatus(res, status, reason, headers);
    return { status, bytes: 0, zeroCopy: false, reason, error: err as Error };
  }
  return { status, bytes: 0, zeroCopy: false, reason };
}

/**
 * A short text answer: errors, refusals, redirects. An error drops every header set before it (a 404 must not
 * carry a year's Cache-Control meant for the file), as send does; none of them is to be sniffed or run.
 */
export function respondStatus(res: Response, status: number, reason: string, headers: Record<string, string> = {},
  text = `${status === 416 || status === 412 ? '' : `${reason[0].toUpperCase()}${reason.slice(1)}\n`}`): ServeResult {
  const body = Buffer.from(text);
  const dropped = status >= 400 ? res.getHeaderNames() : ['etag', 'last-modified', 'accept-ranges'];
  for (const name of dropped) res.removeHeader(name);
  res.setHeader('Content-Security-Policy', "default-src 'none'");
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.setHeader('Content-Length', body.length);
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.writeHead(status);
  res.end(body);
  return { status, bytes: body.length, zeroCopy: false, reason };
}
