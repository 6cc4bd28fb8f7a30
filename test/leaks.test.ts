// 10,000 rounds of sendFile, proxy and lease acquire/release (map/unmap: test/mmap.test.ts): the fd count,
// RSS and the number of mappings in /proc/self/maps stay flat. Bounds are generous (a collector's mood must
// not fail the run) and the figures are printed.
import * as fs from 'node:fs';
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acquireLease, copyFileRange, proxy, sendFile, stats } from '../src/index';
import { FALLBACK, fdCount, randomFile, sleep, stableFdCount, tempDir } from './helpers';

const dir = tempDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const ROUNDS = 10_000;

interface Sample {
  rss: number;
  fds: number;
  maps: number;
}

async function sample(): Promise<Sample> {
  await sleep(20);
  return {
    rss: process.memoryUsage.rss(),
    // Empty pipes kept for reuse (at most 64) are the engine's, not a leak.
    fds: (await stableFdCount()) - 2 * stats().pooledPipes,
    maps: fs.readFileSync('/proc/self/maps', 'latin1').split('\n').length,
  };
}

async function flat(name: string, round: (i: number) => Promise<void>): Promise<void> {
  for (let i = 0; i < 200; i++) await round(i); // warm-up: threads, pools, JIT
  const before = await sample();
  const t0 = performance.now();
  for (let i = 0; i < ROUNDS; i++) await round(i);
  const seconds = (performance.now() - t0) / 1000;
  const after = await sample();
  console.log(`${name} ×${ROUNDS} in ${seconds.toFixed(1)} s: fds ${before.fds} → ${after.fds}, ` +
    `RSS ${(before.rss / 2 ** 20).toFixed(0)} → ${(after.rss / 2 ** 20).toFixed(0)} MiB, maps ${before.maps} → ${after.maps}`);
  // A leak of one fd per round would add 10,000; of one mapping, 10,000 lines; of 16 KiB, 160 MiB. The heap's
  // own growth between collections stays well inside these.
  expect(after.fds).toBeLessThanOrEqual(before.fds);
  expect(after.rss - before.rss).toBeLessThan(128 * 2 ** 20);
  expect(after.maps - before.maps).toBeLessThan(1000);
}

async function listening(onConnection: (s: net.Socket) => void): Promise<{ port: number; close(): void }> {
  const server = net.createServer(onConnection);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, close: () => server.close() };
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.on('error', reject);
  });
}

describe.skipIf(FALLBACK)('leaks over 10,000 rounds', () => {
  // The engine's threads, their epoll and wake fds, are made once per process on first use: before counting.
  beforeAll(async () => {
    const { file } = randomFile(dir, 1, 'warm-up');
    await copyFileRange(file, `${file}.copy`);
  });

  it('sendFile', async () => {
    const { file } = randomFile(dir, 4096, 'leak-send');
    let received = 0;
    const server = await listening((s) => s.on('data', (c) => (received += c.length)));
    const socket = await connect(server.port);
    await flat('sendFile (4 KiB, one connection)', async () => {
      await sendFile(socket, file);
    });
    socket.destroy();
    server.close();
    expect(received).toBeGreaterThan(0);
  });

  it('proxy', async () => {
    // An echo server behind the relay; each round relays one small message both ways over fresh connections.
    const echo = await listening((s) => s.pipe(s));
    const front = await listening((a) => {
      a.pause();
      const b = net.connect(echo.port, '127.0.0.1', () => proxy(a, b).catch(() => {}));
    });
    const message = Buffer.alloc(1024, 1);
    await flat('proxy (1 KiB each way, fresh connections)', async () => {
      const client = await connect(front.port);
      await new Promise<void>((resolve, reject) => {
        let got = 0;
        client.on('data', (c) => {
          got += c.length;
          if (got === message.length) client.end();
        });
        client.on('close', () => resolve());
        client.on('error', reject);
        client.write(message);
      });
    });
    front.close();
    echo.close();
  }, 180_000);

  it('lease acquire/release', async () => {
    const { file } = randomFile(dir, 4096, 'leak-lease');
    await flat('acquireLease/release', async () => {
      const lease = await acquireLease(file, 'read');
      lease.release();
    });
  });

  it('fdCount helper sanity: an fd opened is counted', () => {
    const before = fdCount();
    const fd = fs.openSync(dir, 'r');
    expect(fdCount()).toBe(before + 1);
    fs.closeSync(fd);
  });
});
