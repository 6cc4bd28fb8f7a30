// Small facts about net.Sockets shared by the transfers that take them over.
import * as http from 'node:http';
import type * as net from 'node:net';
import { invalidArgValue } from './errors';
import { type SocketIo, isEnding } from './socket-queue';

/** The fd under a net.Socket (libuv's handle), or undefined when it has none (not connected, closed). */
export function socketFd(socket: net.Socket): number | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/** The error for a socket that closed while a transfer still needed it. */
export function prematureClose(): Error & { code: string } {
  return Object.assign(new Error('The socket closed during the transfer'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
}

/**
 * Node's own refusal of a write to this socket now, if it would refuse one, with the code and message that
 * socket.write() gives: after end() (finished, or queued behind a transfer) ERR_STREAM_WRITE_AFTER_END, after destroy()
 * ERR_STREAM_DESTROYED, never connected ERR_SOCKET_CLOSED. A transfer given such a socket sends nothing.
 */
export function writeRefusal(socket: net.Socket, atTurn = false): (Error & { code: string }) | undefined {
  // At a transfer's turn in the output queue, only an end() queued before it has run (writableEnded); one queued
  // after it does not concern it.
  if (socket.writableEnded || (!atTurn && isEnding(socket))) {
    return Object.assign(new Error('write after end'), { code: 'ERR_STREAM_WRITE_AFTER_END' });
  }
  return readRefusal(socket, 'write');
}

/** The same for a socket a transfer only reads: a destroyed or never connected one has nothing to give. */
export function readRefusal(socket: net.Socket, call = 'read'): (Error & { code: string }) | undefined {
  if (socket.destroyed) {
    return Object.assign(new Error(`Cannot call ${call} after a stream was destroyed`), { code: 'ERR_STREAM_DESTROYED' });
  }
  // Never connected and not connecting: no handle, so nothing can ever flow (socket.write() says the same).
  if (!socket.connecting && !(socket as unknown as { _handle?: unknown })._handle) {
    return Object.assign(new Error('Socket is closed'), { code: 'ERR_SOCKET_CLOSED' });
  }
  return undefined;
}

/** Writes chunks through the socket's own write; resolves once the last one has reached the kernel. */
export function writeThrough(io: SocketIo, chunks: Buffer[]): Promise<void> {
  if (chunks.length === 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    chunks.forEach((chunk, i) =>
      io.write(chunk, i === chunks.length - 1 ? (err) => (err ? reject(err) : resolve()) : undefined));
  });
}

interface HttpResponseState {
  _header?: string | null;
  _headerSent?: boolean;
  chunkedEncoding?: boolean;
}

/**
 * Runs `writeHead` (Node holds the headers: nothing is sent yet) and says why the body must not go raw to the
 * socket beneath the response after it: a middleware (compression) reframed the response in a writeHead hook
 * (Content-Length gone, Content-Encoding or Transfer-Encoding added: raw bytes would split the response), or
 * took over res.write / res.end (they transform what they are given). undefined: the body may go zero-copy.
 */
export function reframing(res: http.ServerResponse, length: number, writeHead: () => void):
  'response-patched' | 'response-reframed' | undefined {
  const proto = http.ServerResponse.prototype;
  // No hook on writeHead, write or end (the response's own methods): nothing can reframe it, nothing to read back.
  if (res.writeHead === proto.writeHead && res.write === proto.write && res.end === proto.end) {
    writeHead();
    return (res as unknown as HttpResponseState).chunkedEncoding === true ? 'response-reframed' : undefined;
  }
  const set = (name: string) => headerValue(res, name);
  const before = [set('content-encoding'), set('transfer-encoding')];
  writeHead();
  if (res.write !== proto.write || res.end !== proto.end) return 'response-patched';
  const framed = (res as unknown as HttpResponseState).chunkedEncoding === true || set('content-length') !== String(length);
  if (framed || set('content-encoding') !== before[0] || set('transfer-encoding') !== before[1]) return 'response-reframed';
  return undefined;
}

/** A header as the response has it: as it will go out once writeHead has run (its headers may never be set ones). */
function headerValue(res: http.ServerResponse, name: string): string {
  const head = (res as unknown as HttpResponseState)._header;
  if (!head) return String(res.getHeader(name) ?? '');
  let line = headerLines.get(name);
  if (!line) headerLines.set(name, (line = new RegExp(`\\r\\n${name}:[ \\t]*([^\\r]*)`, 'i')));
  return line.exec(head)?.[1].trim() ?? '';
}

/** Compiled once per header name (a few fixed ones): reframing() reads three per response. */
const headerLines = new Map<string, RegExp>();

/** 1xx, 204 and 304 never have a body (RFC 9110 §6.4.1): bytes after them would start the next response. */
export function forbidsBody(status: number): boolean {
  return status < 200 || status === 204 || status === 304;
}

export function isResponse(out: unknown): out is http.ServerResponse {
  return out instanceof http.ServerResponse;
}

/**
 * sendFile(res): the response's headers go out first (flushed here), then its socket takes the file. Refused
 * before anything is sent: a Content-Length other than the `count` bytes to send (more would start the next
 * response, fewer leave it hanging), a body the response would frame (chunked, compressed by middleware), and
 * a response with no socket.
 */
export function responseSocket(out: http.ServerResponse, count: number): net.Socket {
  const state = out as unknown as HttpResponseState;
  if (state._header ? state.chunkedEncoding : !out.hasHeader('content-length')) {
    throw invalidArgValue('out', '[ServerResponse]', 'is a response without Content-Length: set it (writeHead or ' +
      'setHeader) before sendFile, so that the file is the body as it is, not chunks to frame');
  }
  const declared = headerValue(out, 'content-length');
  if (declared !== String(count)) {
    throw invalidArgValue('out', '[ServerResponse]', `declares Content-Length ${declared} but ${count} bytes are to ` +
      'be sent: they must be equal');
  }
  const reframed = reframing(out, count, () => state._header || out.writeHead(out.statusCode));
  if (reframed) {
    throw invalidArgValue('out', '[ServerResponse]', `is reframed by middleware (${reframed}: compression?): the ` +
      'file cannot go raw beneath it; write it with res.write, or answer with serveFile (it does)');
  }
  out.flushHeaders();
  if (!out.socket) throw invalidArgValue('out', '[ServerResponse]', 'has no socket (it finished, or is not one of node:http\'s)');
  return out.socket;
}

/**
 * Tells Node that `bytes` of the response's body went past its write (straight to the socket beneath): end()
 * checks its count against Content-Length when `strictContentLength` is set, and threw after a whole body.
 */
export function countBodyBytes(res: http.ServerResponse, bytes: number): void {
  bytesWritten ??= Object.getOwnPropertySymbols(res).find((s) => s.description === 'kBytesWritten') ?? null;
  const state = res as unknown as Record<symbol, unknown>;
  if (bytesWritten && typeof state[bytesWritten] === 'number') state[bytesWritten] = (state[bytesWritten] as number) + bytes;
}

/** Node's own key for a response's body byte count (the same symbol on every response), found once. */
let bytesWritten: symbol | null | undefined;

/**
 * A socket whose HTTP response has headers Node still holds (writeHead() without flushHeaders()): bytes sent
 * to it now would go out before them.
 */
export function unsentHeaders(socket: net.Socket): (TypeError & { code: string }) | undefined {
  const response = (socket as unknown as { _httpMessage?: HttpResponseState | null })._httpMessage;
  if (!response || response._headerSent !== false) return undefined;
  return invalidArgValue('out', '[Socket]', "carries an HTTP response whose headers are not sent yet: call " +
    'res.flushHeaders() first, or pass the response itself (sendFile(res, file))');
}
