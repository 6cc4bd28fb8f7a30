// Real HTTP clients for the serveFile tests: curl in a child process, raw sockets for pipelining, and a
// multipart/byteranges parser to check each part byte by byte.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { toolEnv } from './helpers';

export interface Server {
  port: number;
  url: string;
  /** Connections accepted so far. */
  connections(): number;
  close(): Promise<void>;
}

export async function listen(server: http.Server | net.Server): Promise<Server> {
  let connections = 0;
  server.on('connection', () => connections++);
  server.on('secureConnection', () => connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    connections: () => connections,
    close: () => new Promise<void>((r) => {
      (server as http.Server).closeAllConnections?.();
      server.close(() => r());
    }),
  };
}

export interface CurlResult {
  exitCode: number;
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** curl with the given arguments; headers and body captured separately (the last response's headers). */
export function curl(dir: string, url: string, ...args: string[]): Promise<CurlResult> {
  const stamp = `${process.pid}-${Math.random().toString(36).slice(2)}`;
  const headerFile = path.join(dir, `curl-${stamp}.headers`);
  const bodyFile = path.join(dir, `curl-${stamp}.body`);
  return new Promise((resolve, reject) => {
    execFile('curl', ['-s', '-D', headerFile, '-o', bodyFile, ...args, url], { env: toolEnv() }, (err) => {
      const exitCode = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      try {
        const blocks = fs.readFileSync(headerFile, 'latin1').split('\r\n\r\n').filter((b) => b.startsWith('HTTP/'));
        const lines = (blocks.at(-1) ?? '').split('\r\n');
        const headers: Record<string, string> = {};
        for (const line of lines.slice(1)) {
          const colon = line.indexOf(':');
          if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
        }
        const body = fs.existsSync(bodyFile) ? fs.readFileSync(bodyFile) : Buffer.alloc(0);
        resolve({ exitCode, status: Number(lines[0]?.split(' ')[1] ?? 0), headers, body });
      } catch (e) {
        reject(err ?? e);
      } finally {
        fs.rmSync(headerFile, { force: true });
        fs.rmSync(bodyFile, { force: true });
      }
    });
  });
}

export interface Part {
  headers: Record<string, string>;
  body: Buffer;
}

/** Splits a multipart/byteranges body at its boundary. */
export function parseMultipart(body: Buffer, contentType: string): Part[] {
  const boundary = /boundary=([^;]+)/.exec(contentType)?.[1];
  if (!boundary) throw new Error(`no boundary in ${contentType}`);
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: Part[] = [];
  let at = body.indexOf(delimiter);
  if (at !== 0) throw new Error('multipart body does not start with its boundary');
  for (;;) {
    at += delimiter.length;
    if (body.subarray(at, at + 2).toString() === '--') {
      if (body.subarray(at + 2).toString() !== '\r\n') throw new Error('bytes after the closing boundary');
      return parts;
    }
    const headEnd = body.indexOf('\r\n\r\n', at);
    const headers: Record<string, string> = {};
    for (const line of body.subarray(at + 2, headEnd).toString('latin1').split('\r\n')) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
    }
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), delimiter]), headEnd + 4);
    if (next < 0) throw new Error('unterminated part');
    parts.push({ headers, body: body.subarray(headEnd + 4, next) });
    at = next + 2;
  }
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/**
 * Parses consecutive HTTP/1.1 responses framed by Content-Length from one byte stream (pipelining).
 * `heads` lists which responses answer HEAD requests (no body whatever Content-Length says).
 */
export function parseResponses(data: Buffer, heads: boolean[]): RawResponse[] {
  const out: RawResponse[] = [];
  let at = 0;
  for (let i = 0; i < heads.length; i++) {
    const end = data.indexOf('\r\n\r\n', at);
    if (end < 0) throw new Error(`response ${i}: no header end`);
    const lines = data.subarray(at, end).toString('latin1').split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = heads[i] ? 0 : Number(headers['content-length']);
    if (!Number.isInteger(length)) throw new Error(`response ${i}: no Content-Length`);
    out.push({ status: Number(lines[0].split(' ')[1]), headers, body: data.subarray(end + 4, end + 4 + length) });
    at = end + 4 + length;
  }
  if (at !== data.length) throw new Error(`${data.length - at} bytes after the last response`);
  return out;
}

/** Writes `request` on a raw socket and collects everything until the server closes or `until` says done. */
export function rawExchange(port: number, request: string, until: (data: Buffer) => boolean): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = net.connect(port, '127.0.0.1', () => socket.write(request));
    const finish = () => {
      socket.destroy();
      resolve(Buffer.concat(chunks));
    };
    socket.on('data', (c) => {
      chunks.push(c);
      if (until(Buffer.concat(chunks))) finish();
    });
    socket.on('end', finish);
    socket.on('error', reject);
  });
}

/**
 * `request` on a connection of its own, read until the server closes it (at most 30 s): the reader stops at
 * `pauseAt` bytes, `during()` runs, and it reads on `resumeAfterMs` later. Everything received.
 */
export function pausedExchange(port: number, request: string, pauseAt: number, during: () => void,
  resumeAfterMs = 300): Promise<Buffer> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let total = 0;
    socket.on('data', (c) => {
      chunks.push(c);
      total += c.length;
      if (total - c.length < pauseAt && total >= pauseAt) {
        socket.pause();
        during();
        setTimeout(() => socket.resume(), resumeAfterMs);
      }
    });
    const timer = setTimeout(() => socket.destroy(), 30_000); // bounded: a server that stalls ends the read
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
    socket.write(request);
  });
}

/** A GET (the connection closed after it) read as pausedExchange reads: its head and body. */
export async function slowGet(port: number, url: string, pauseAt: number, during: () => void):
  Promise<{ head: string; body: Buffer }> {
  const all = await pausedExchange(port, `GET ${url} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, pauseAt, during);
  const end = all.indexOf('\r\n\r\n');
  return { head: all.subarray(0, end).toString('latin1'), body: all.subarray(end + 4) };
}

/**
 * A GET of `url` on a connection of its own (closed after it), `header` lines added, its reader paused from the
 * start when `paused` (resume `socket` to read on). `received()`: the status line and body once the server
 * closes it (or 10 s).
 */
export function stalledGet(port: number, url: string, paused: boolean, header = '') {
  const socket = net.connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  socket.write(`GET ${url} HTTP/1.1\r\nHost: x\r\n${header}Connection: close\r\n\r\n`);
  if (paused) socket.pause();
  const received = async () => {
    await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 10_000))]);
    socket.destroy();
    const all = Buffer.concat(chunks);
    const end = all.indexOf('\r\n\r\n');
    return { status: all.subarray(0, all.indexOf('\r\n')).toString(), body: all.subarray(end + 4) };
  };
  return { socket, received };
}
