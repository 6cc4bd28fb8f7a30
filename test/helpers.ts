// Shared test helpers: real temp files with deterministic content, sha256, TCP pairs on 127.0.0.1.
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Destination, Strategy } from '../src/index';
import { DEFAULT_RULES } from '../src/seam/defaults';

export const FALLBACK = process.env.ZEROCOPY_FORCE_FALLBACK === '1';

/** The strategy 'auto' picks natively by the default rules for a destination and a length. */
export function autoStrategy(destination: Destination, length: number): Strategy {
  return DEFAULT_RULES.filter((r) => r.destination === destination && r.minBytes <= length)
    .sort((a, b) => b.minBytes - a.minBytes)[0].strategy;
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'zerocopy-test-'));
}

/** A file of `size` random bytes; returns its path and contents. */
export function randomFile(dir: string, size: number, name = `f-${size}`): { file: string; data: Buffer } {
  const data = randomBytes(size);
  const file = path.join(dir, name);
  fs.writeFileSync(file, data);
  return { file, data };
}

export function fdCount(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

/** The fd count once earlier tests' closes have settled: the same over two samples 50 ms apart. */
export async function stableFdCount(): Promise<number> {
  let last = fdCount();
  for (let i = 0; i < 40; i++) {
    await new Promise((r) => setTimeout(r, 50));
    const now = fdCount();
    if (now === last) return now;
    last = now;
  }
  return last;
}

/** The fd count once it is back at (or under) `expected`, or after 3 s. Leaks only ever raise it. */
export async function settleFds(expected: number): Promise<number> {
  for (let i = 0; i < 300 && fdCount() > expected; i++) await sleep(10);
  return fdCount();
}

/** The fd under a net.Socket (libuv's stream handle). */
export function socketFd(socket: net.Socket): number {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('socket has no fd');
  return fd;
}

export interface TcpPair {
  /** The server side's socket: the one the test writes into with raw syscalls. */
  sender: net.Socket;
  /** Resolves with everything the client received, once the sender side is ended. */
  received: Promise<Buffer>;
  close(): void;
}

/** A connected TCP pair on 127.0.0.1; the client collects what it receives until the sender ends. */
export async function tcpPair(): Promise<TcpPair> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  const client = net.connect(port, '127.0.0.1');
  const received = new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    client.on('data', (c) => chunks.push(c));
    client.on('end', () => resolve(Buffer.concat(chunks)));
    client.on('error', reject);
  });
  const sender = await accepted;
  server.close();
  return {
    sender,
    received,
    close() {
      sender.destroy();
      client.destroy();
    },
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Calls `step` until it has moved `total` bytes, yielding to the event loop while it answers EAGAIN. */
export async function drive(total: number, step: (done: number) => number): Promise<number> {
  let done = 0;
  while (done < total) {
    let n: number;
    try {
      n = step(done);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      await sleep(1);
      continue;
    }
    if (n === 0) break;
    done += n;
  }
  return done;
}

/**
 * The environment for tools that are not node (curl): without LD_PRELOAD, which `npm run test:asan` sets for
 * the node processes that load the sanitized addon (curl slows to a crawl with ASAN's runtime preloaded).
 */
export function toolEnv(): NodeJS.ProcessEnv {
  const { LD_PRELOAD: _preload, ...env } = process.env;
  return env;
}
