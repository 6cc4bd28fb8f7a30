// sendFile and copyFileRange against real clients on 127.0.0.1, real files, real child processes: exact bytes
// (sha256), aborts, resets, truncation, keep-alive ordering, the threadpool left free. Same suite on the fallback.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { copyFileRange, sendFile, stats } from '../src/index';
import { FALLBACK, autoStrategy, settleFds, sha256, sleep, stableFdCount, tempDir } from './helpers';

const dir = tempDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const MiB = 2 ** 20;
const fixture = (name: string) => path.join(__dirname, 'fixtures', name);

interface Served {
  port: number;
  close(): void;
}

/** A server that runs `handle` for each connection. */
async function serve(handle: (socket: net.Socket) => void): Promise<Served> {
  const server = net.createServer(handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, close: () => server.close() };
}

/** Connects and collects everything until the server ends or the connection closes. */
function fetchAll(port: number, options: { slow?: boolean } = {}): Promise<{ data: Buffer; clean: boolean }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const client = net.connect(port, '127.0.0.1');
    client.on('data', (chunk) => {
      chunks.push(chunk);
      if (options.slow) {
        client.pause();
        setTimeout(() => client.resume(), 2);
      }
    });
    let clean = false;
    client.on('end', () => (clean = true));
    client.on('error', () => {});
    client.on('close', () => resolve({ data: Buffer.concat(chunks), clean }));
  });
}


function file(name: string, size: number): { file: string; data: Buffer } {
  const data = randomBytes(size);
  const p = path.join(dir, name);
  fs.writeFileSync(p, data);
  return { file: p, data };
}

describe('sendFile to a real client', () => {
  it.each([0, 1, 4096, MiB + 1, 256 * MiB])('delivers %i bytes exactly', async (size) => {
    const { file: f, data } = file(`size-${size}`, size);
    let result: unknown;
    const server = await serve(async (socket) => {
      result = await sendFile(socket, f);
      socket.end();
    });
    const { data: got, clean } = await fetchAll(server.port);
    server.close();
    expect(clean).toBe(true);
    expect(got.length).toBe(size);
    expect(sha256(got)).toBe(sha256(data));
    expect(result).toEqual(FALLBACK
      ? { bytes: size, zeroCopy: false, fallbackReason: 'no-binding', strategy: 'copy', reason: 'no-binding' }
      : { bytes: size, zeroCopy: true, strategy: autoStrategy('local-tcp', size), reason: 'auto:local-tcp' });
  }, 60_000);

  it('delivers exact bytes for random offset/length pairs (property)', async () => {
    const { file: f, data } = file('property', 3 * MiB + 123);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: data.length }), fc.integer({ min: 0, max: data.length }),
        async (a, b) => {
          const offset = Math.min(a, b);
          const length = Math.max(a, b) - offset;
          const server = await serve(async (socket) => {
            await sendFile(socket, f, { offset: BigInt(offset), length });
            socket.end();
          });
          const { data: got } = await fetchAll(server.port);
          server.close();
          expect(got.equals(data.subarray(offset, offset + length))).toBe(true);
        }),
      { numRuns: 40 },
    );
  }, 120_000);

  it('falls back to read/write over TLS, with the reason', async () => {
    const { file: f, data } = file('tls', 2 * MiB + 7);
    const key = fs.readFileSync(fixture('tls/key.pem'));
    const cert = fs.readFileSync(fixture('tls/cert.pem'));
    let result: unknown;
    const server = tls.createServer({ key, cert }, async (socket) => {
      result = await sendFile(socket, f);
      socket.end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const got = await new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      const client = tls.connect({ port: (server.address() as net.AddressInfo).port, host: '127.0.0.1', ca: cert,
        servername: 'localhost' });
      client.on('data', (c) => chunks.push(c));
      client.on('end', () => resolve(Buffer.concat(chunks)));
      client.on('error', reject);
    });
    server.close();
    expect(sha256(got)).toBe(sha256(data));
    expect(result).toEqual({ bytes: data.length, zeroCopy: false, fallbackReason: 'tls', strategy: 'copy', reason: 'tls' });
  });

  it('keeps order with ordinary writes on one keep-alive socket (pipelining)', async () => {
    const files = [file('pipe-a', 10), file('pipe-b', 3 * MiB), file('pipe-c', 0), file('pipe-d', 70_000)];
    const server = await serve((socket) => {
      const sends: Promise<unknown>[] = [];
      for (const [i, f] of files.entries()) {
        socket.write(`header ${i}\n`);
        sends.push(sendFile(socket, f.file));
        socket.write(`trailer ${i}\n`);
      }
      void Promise.all(sends).then(() => socket.end('done\n'));
    });
    const { data: got } = await fetchAll(server.port, { slow: true });
    server.close();
    const expected = Buffer.concat([
      ...files.flatMap((f, i) => [Buffer.from(`header ${i}\n`), f.data, Buffer.from(`trailer ${i}\n`)]),
      Buffer.from('done\n'),
    ]);
    expect(got.length).toBe(expected.length);
    expect(got.equals(expected)).toBe(true);
  });

  it('is not disturbed when the caller closes its fd right after the call', async () => {
    const { file: f, data } = file('closed-after', 8 * MiB);
    const server = await serve(async (socket) => {
      const fd = fs.openSync(f, 'r');
      const sending = sendFile(socket, fd);
      fs.closeSync(fd);
      fs.openSync(path.join(dir, 'size-1'), 'r'); // likely reuses the fd number
      await sending;
      socket.end();
    });
    const { data: got } = await fetchAll(server.port, { slow: true });
    server.close();
    expect(sha256(got)).toBe(sha256(data));
  });

  it('sends to a plain fd (a file) and reports progress', async () => {
    const { file: f, data } = file('to-fd', 20 * MiB + 5);
    const out = path.join(dir, 'to-fd.out');
    const fd = fs.openSync(out, 'w');
    const seen: number[] = [];
    const result = await sendFile(fd, f, { offset: 5, onProgress: (n) => seen.push(n) });
    fs.closeSync(fd);
    expect(result.bytes).toBe(20 * MiB);
    expect(sha256(fs.readFileSync(out))).toBe(sha256(data.subarray(5)));
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThan(seen[i - 1]);
    expect(seen.every((n) => n < result.bytes)).toBe(true);
  });
});

describe('many slow clients', () => {
  it('200 concurrent slow readers all receive exact bytes', async () => {
    const { file: f, data } = file('many', MiB + 17);
    const server = await serve((socket) => {
      sendFile(socket, f).then(() => socket.end(), () => socket.destroy());
    });
    const results = await Promise.all(Array.from({ length: 200 }, () => fetchAll(server.port, { slow: true })));
    server.close();
    const expected = sha256(data);
    for (const r of results) expect(sha256(r.data)).toBe(expected);
  }, 120_000);

  it('while 16 transfers wait on clients that do not read, the threadpool and timers stay free', async () => {
    const { file: f, data } = file('stalled', 32 * MiB);
    const clients: net.Socket[] = [];
    const received: Promise<Buffer>[] = [];
    let finished = 0;
    const server = await serve((socket) => {
      sendFile(socket, f).then(() => {
        finished++;
        socket.end();
      }, () => socket.destroy());
    });
    for (let i = 0; i < 16; i++) {
      const client = net.connect(server.port, '127.0.0.1');
      client.pause();
      clients.push(client);
      const chunks: Buffer[] = [];
      received.push(new Promise((resolve) => {
        client.on('data', (c) => chunks.push(c));
        client.on('end', () => resolve(Buffer.concat(chunks)));
      }));
    }
    await sleep(200);
    // Nothing can finish while nobody reads; the threadpool must still serve fs work, and timers fire.
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    for (let i = 0; i < 8; i++) {
      await fs.promises.stat(f);
      await fs.promises.readFile(path.join(dir, 'size-4096'));
    }
    await sleep(50);
    clearInterval(timer);
    expect(finished).toBe(0);
    expect(ticks).toBeGreaterThan(0);
    for (const c of clients) c.resume();
    const all = await Promise.all(received);
    server.close();
    for (const r of all) expect(sha256(r)).toBe(sha256(data));
    expect(finished).toBe(16);
  }, 120_000);
});

describe('failures: each rejects with its code and leaves no fd behind', () => {
  it('abort mid-transfer: AbortError with the bytes sent', async () => {
    const { file: f } = file('abort', 64 * MiB);
    const before = await stableFdCount();
    const controller = new AbortController();
    let done!: (err: Error & { code?: string; bytes?: number }) => void;
    const failed = new Promise<Error & { code?: string; bytes?: number }>((r) => (done = r));
    const server = await serve(async (socket) => {
      setTimeout(() => controller.abort(), 100);
      done(await sendFile(socket, f, { signal: controller.signal }).then(() => new Error('resolved'), (e) => e));
      socket.destroy();
    });
    const client = net.connect(server.port, '127.0.0.1');
    client.pause(); // never reads: the transfer is parked when the abort comes
    const err = await failed;
    client.destroy();
    server.close();
    expect(err?.name).toBe('AbortError');
    expect(err?.code).toBe('ABORT_ERR');
    expect(err?.bytes).toBeGreaterThan(0);
    expect(err?.bytes).toBeLessThan(64 * MiB);
    expect(await settleFds(before)).toBeLessThanOrEqual(before);
  });

  it('an already-aborted signal rejects at once', async () => {
    await expect(sendFile(1, 'x', { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'ABORT_ERR', bytes: 0 });
  });

  it('client reset mid-transfer: ECONNRESET or EPIPE with the bytes sent', async () => {
    const { file: f } = file('reset', 64 * MiB);
    const before = await stableFdCount();
    let err: (Error & { code?: string; bytes?: number }) | undefined;
    let done!: () => void;
    const finished = new Promise<void>((r) => (done = r));
    const server = await serve(async (socket) => {
      err = await sendFile(socket, f).then(() => undefined, (e) => e);
      done();
    });
    const client = net.connect(server.port, '127.0.0.1');
    let got = 0;
    client.on('data', (c) => {
      got += c.length;
      if (got > 4 * MiB) client.resetAndDestroy();
    });
    client.on('error', () => {});
    await finished;
    server.close();
    expect(['ECONNRESET', 'EPIPE']).toContain(err?.code);
    expect(err?.bytes).toBeGreaterThan(0);
    expect(await settleFds(before)).toBeLessThanOrEqual(before);
  });

  it('input truncated by a child process mid-transfer: ERR_FILE_TRUNCATED, connection cut, never zeros', async () => {
    const size = 128 * MiB;
    const { file: f, data } = file('truncated', size);
    const before = await stableFdCount();
    let err: (Error & { code?: string; bytes?: number }) | undefined;
    const server = await serve(async (socket) => {
      err = await sendFile(socket, f).then(() => undefined, (e) => e);
    });
    const chunks: Buffer[] = [];
    const client = net.connect(server.port, '127.0.0.1');
    let got = 0;
    let truncating = false;
    client.on('data', (c) => {
      chunks.push(c);
      got += c.length;
      if (got > 8 * MiB && !truncating) {
        truncating = true;
        client.pause();
        spawn('truncate', ['-s', String(MiB), f]).on('exit', () => client.resume());
      }
    });
    client.on('error', () => {});
    let clean = false;
    client.on('end', () => (clean = true));
    await new Promise((r) => client.on('close', r));
    server.close();
    const received = Buffer.concat(chunks);
    expect(err?.code).toBe('ERR_FILE_TRUNCATED');
    expect(received.length).toBeLessThan(size);
    // What arrived is a prefix of the original: bytes sent before the truncation are the file's own. The
    // kernel may send zeros for pages it had already queued: the client sees a short body, never a full one.
    expect(received.subarray(0, MiB).equals(data.subarray(0, MiB))).toBe(true);
    expect(clean).toBe(true); // FIN after a short body: Content-Length framing shows the cut
    expect(await settleFds(before)).toBeLessThanOrEqual(before);
  }, 60_000);

  it('a missing file rejects with ENOENT; a bad argument with its code', async () => {
    const before = await stableFdCount();
    await expect(sendFile(1, path.join(dir, 'missing'))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(sendFile(-1 as never, 'x')).rejects.toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
    await expect(sendFile({} as never, 'x')).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    await expect(sendFile(1, {} as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    await expect(sendFile(1, path.join(dir, 'size-1'), { offset: 2 })).rejects.toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
    await expect(sendFile(1, path.join(dir, 'size-1'), { length: 2 })).rejects.toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
    expect(await settleFds(before)).toBeLessThanOrEqual(before);
  });

  it('a worker thread terminated mid-transfer leaves the process and its fds clean', async () => {
    const { file: f } = file('worker', 64 * MiB);
    // The engine's threads and their epoll fds are process-wide and made on first use: start them first.
    await copyFileRange(f, path.join(dir, 'worker-warmup'), { length: 1 });
    const before = await stableFdCount();
    const worker = new Worker(fixture('sendfile-worker.mjs'), { workerData: { file: f }, env: process.env });
    await new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    expect(await worker.terminate()).toBe(1);
    expect(await settleFds(before)).toBeLessThanOrEqual(before);
  });
});

describe('copyFileRange', () => {
  it('copies file -> file exactly, with offsets, paths and fds', async () => {
    const { file: f, data } = file('copy-src', 9 * MiB + 3);
    const dst = path.join(dir, 'copy-dst');
    expect(await copyFileRange(f, dst)).toBe(data.length);
    expect(sha256(fs.readFileSync(dst))).toBe(sha256(data));
    const fd = fs.openSync(dst, 'r+');
    expect(await copyFileRange(f, fd, { offsetIn: 100, offsetOut: 5n, length: 1000 })).toBe(1000);
    fs.closeSync(fd);
    const after = fs.readFileSync(dst);
    expect(after.subarray(5, 1005).equals(data.subarray(100, 1100))).toBe(true);
    expect(after.subarray(0, 5).equals(data.subarray(0, 5))).toBe(true);
  });

  it('rejects ERR_FILE_TRUNCATED-free on success and AbortError on abort', async () => {
    const { file: f } = file('copy-abort', 8 * MiB);
    await expect(copyFileRange(f, path.join(dir, 'copy-abort-dst'), { signal: AbortSignal.abort() }))
      .rejects.toMatchObject({ code: 'ABORT_ERR' });
    await expect(copyFileRange(path.join(dir, 'nope'), path.join(dir, 'x'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('stats()', () => {
  it('counts zero-copy and fallback bytes, with reasons', async () => {
    const { file: f } = file('stats', MiB);
    const before = stats();
    const server = await serve(async (socket) => {
      await sendFile(socket, f);
      socket.end();
    });
    await fetchAll(server.port);
    server.close();
    const after = stats();
    if (FALLBACK) {
      expect(after.fallbackBytes - before.fallbackBytes).toBe(MiB);
      expect(after.fallbacks['no-binding']).toBe((before.fallbacks['no-binding'] ?? 0) + 1);
    } else {
      expect(after.zeroCopyBytes - before.zeroCopyBytes).toBe(MiB);
      expect(after.syscalls).toBeGreaterThan(before.syscalls);
    }
    expect(after.activeTransfers).toBe(0);
  });
});
