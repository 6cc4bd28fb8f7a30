// The engine's 'send' strategies (sendfile, splice, mmap, copy), each driven through src/engine.ts onto every
// kind of destination this host has: byte-exact delivery, the strategy reported, truncation by another process
// mid-transfer ending as `truncated` (never success), a lease given up stopping a copying strategy, and splice's
// refusal of an O_APPEND output handing over to copy. Native only: the fallback has no engine.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type Strategy, binding } from '../src/binding';
import { type JobResult, startJob } from '../src/engine';
import { createPipe } from '../src/index';
import { leaseFd } from '../src/lease';
import { FALLBACK, randomFile, sha256, sleep, socketFd, tcpPair, tempDir } from './helpers';

const dir = tempDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const MiB = 2 ** 20;
const STRATEGIES: Strategy[] = ['sendfile', 'splice', 'mmap', 'copy'];
const SIZE = 3 * MiB + 4097; // not a multiple of a page: the last window and chunk are partial

/** Everything a pipe's non-blocking read end delivers until its writer closes (libuv reads it, as a socket). */
function readAll(fd: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    new net.Socket({ fd, readable: true, writable: false }).on('data', (c) => chunks.push(c))
      .on('end', () => resolve(Buffer.concat(chunks))).on('error', reject);
  });
}

/** A connected Unix stream socket pair: [the socket the job writes into, a promise of what the other end got]. */
async function unixPair(name: string): Promise<{ sender: net.Socket; received: Promise<Buffer> }> {
  const socketPath = path.join(dir, name);
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  const client = net.connect(socketPath);
  const received = new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    client.on('data', (c) => chunks.push(c)).on('end', () => resolve(Buffer.concat(chunks))).on('error', reject);
  });
  const sender = await accepted;
  server.close();
  return { sender, received };
}

function send(strategy: Strategy, outFd: number, inFd: number, length: number, leaseId?: number): Promise<JobResult> {
  return startJob({ kind: 'send', strategy, outFd, inFd, offset: 0, length, leaseId }).done;
}

describe.skipIf(FALLBACK)('each strategy on each destination: exact bytes, and the strategy that moved them', () => {
  const { file, data } = randomFile(dir, SIZE);

  it.each(STRATEGIES)('%s', async (strategy) => {
    const inFd = fs.openSync(file, 'r');
    try {
      const expectDone = (result: JobResult) =>
        expect(result).toMatchObject({ bytes: SIZE, error: null, truncated: false, strategy });

      const tcp = await tcpPair();
      expectDone(await send(strategy, socketFd(tcp.sender), inFd, SIZE));
      tcp.sender.end();
      expect(sha256(await tcp.received)).toBe(sha256(data));
      tcp.close();

      const unix = await unixPair(`${strategy}.sock`);
      expectDone(await send(strategy, socketFd(unix.sender), inFd, SIZE));
      unix.sender.end();
      expect(sha256(await unix.received)).toBe(sha256(data));
      unix.sender.destroy();

      const pipe = createPipe({ nonBlock: true });
      const read = readAll(pipe.readFd);
      expectDone(await send(strategy, pipe.writeFd, inFd, SIZE));
      fs.closeSync(pipe.writeFd);
      expect(sha256(await read)).toBe(sha256(data));

      const out = path.join(dir, `out-${strategy}`);
      const outFd = fs.openSync(out, 'w');
      expectDone(await send(strategy, outFd, inFd, SIZE));
      fs.closeSync(outFd);
      expect(sha256(fs.readFileSync(out))).toBe(sha256(data));
    } finally {
      fs.closeSync(inFd);
    }
  });
});

describe.skipIf(FALLBACK)('a file truncated by another process mid-transfer', () => {
  it.each(STRATEGIES)('%s: ends truncated or with an error, never as success', async (strategy) => {
    const { file, data } = randomFile(dir, 8 * MiB, `cut-${strategy}`);
    const inFd = fs.openSync(file, 'r');
    // A pipe nobody reads yet: the job fills it and waits, holding the rest of the file still to send.
    const pipe = createPipe({ nonBlock: true, size: 64 * 1024 });
    const job = send(strategy, pipe.writeFd, inFd, data.length);
    await sleep(50);
    execFileSync('truncate', ['-s', String(MiB), file]);
    const read = readAll(pipe.readFd);
    const result = await job;
    fs.closeSync(pipe.writeFd);
    const got = await read;
    fs.closeSync(inFd);
    expect(result.error !== null || result.truncated).toBe(true);
    expect(result.bytes).toBeLessThan(data.length);
    expect(got.length).toBe(result.bytes);
    // What arrived before the cut is the file's own.
    expect(sha256(got.subarray(0, Math.min(got.length, MiB)))).toBe(sha256(data.subarray(0, Math.min(got.length, MiB))));
  });
});

describe.skipIf(FALLBACK)('splice into an O_APPEND file (splice answers EINVAL)', () => {
  it('hands over to copy: every byte appended, strategy copy, the refusal as the reason', async () => {
    const { file, data } = randomFile(dir, SIZE, 'append-source');
    const dest = path.join(dir, 'append-dest');
    fs.writeFileSync(dest, 'already here|');
    const inFd = fs.openSync(file, 'r');
    const outFd = fs.openSync(dest, 'a');
    const result = await send('splice', outFd, inFd, SIZE);
    fs.closeSync(outFd);
    fs.closeSync(inFd);
    expect(result).toMatchObject({ bytes: SIZE, error: null, truncated: false, strategy: 'copy', fallbackReason: 'splice-refused' });
    const got = fs.readFileSync(dest);
    expect(got.subarray(0, 13).toString()).toBe('already here|');
    expect(sha256(got.subarray(13))).toBe(sha256(data));
  });
});

/** Whether every user may use `file` (`bits`: 0o004 read, 0o001 execute), every directory above it searchable. */
function usableByAll(file: string, bits: number): boolean {
  for (let p = file; ; p = path.dirname(p)) {
    const mode = fs.statSync(p).mode;
    if ((mode & (p === file ? bits : 0o001)) === 0) return false;
    if (p === path.dirname(p)) return true;
  }
}

const lib = path.join(__dirname, '..', 'lib', 'index.js');
// Root, and a node and a package nobody may run (CI's other Node versions live in a private temp dir).
const asNobody = process.getuid?.() === 0 && usableByAll(lib, 0o004) && usableByAll(process.execPath, 0o001);

describe.skipIf(FALLBACK)('splice past the per-user pipe budget (pipe-user-pages-soft)', () => {
  // Root may exceed the budget: the transfers run as nobody. 100 pooled 1 MiB pipes are past 16,384 pages.
  it.skipIf(!asNobody)('copies what it cannot splice, and never closes an fd it gave back (it aborted libuv)', () => {
    const shared = fs.mkdtempSync('/tmp/zerocopy-budget-');
    fs.chmodSync(shared, 0o755);
    const { file, data } = randomFile(shared, 4 * MiB, 'budget-source');
    fs.chmodSync(file, 0o644);
    const out = execFileSync(process.execPath, [path.join(__dirname, 'fixtures', 'splice-budget.mjs'), lib, file, '100'],
      { uid: 65534, gid: 65534, encoding: 'utf8', timeout: 60_000 });
    fs.rmSync(shared, { recursive: true });
    const { outcomes, received } = JSON.parse(out) as { outcomes: Record<string, number>; received: string[] };
    const ended = Object.keys(outcomes);
    expect(ended.every((k) => k === 'splice/forced' || k === 'copy/splice-refused'), JSON.stringify(outcomes)).toBe(true);
    expect(received).toEqual([`${4 * MiB} ${sha256(data)}`]);
    // Past the budget (the default 16,384 pages), some had no pipe: they were copied.
    const budget = Number(fs.readFileSync('/proc/sys/fs/pipe-user-pages-soft', 'utf8'));
    if (budget > 0 && budget < 100 * 256) expect(outcomes['copy/splice-refused']).toBeGreaterThan(0);
  });
});

describe.skipIf(FALLBACK)('a copying strategy under a lease', () => {
  it.each(['mmap', 'copy'] as Strategy[])('%s: a lease given up stops it before the next chunk (ECANCELED)',
    async (strategy) => {
      const { file, data } = randomFile(dir, 8 * MiB, `leased-${strategy}`);
      const inFd = fs.openSync(file, 'r');
      const lease = leaseFd(inFd, 'read', false, 0);
      const pipe = createPipe({ nonBlock: true, size: 64 * 1024 });
      const job = send(strategy, pipe.writeFd, inFd, data.length, lease.nativeId);
      await sleep(50);
      // Another process opens the file for writing: the lease is given up at once, then it overwrites.
      execFileSync(process.execPath, ['-e', `const fs = require('fs'); const fd = fs.openSync(${JSON.stringify(file)}, 'r+');
        fs.writeSync(fd, Buffer.alloc(${data.length}, 0xee), 0, ${data.length}, 0);`]);
      const read = readAll(pipe.readFd);
      const result = await job;
      fs.closeSync(pipe.writeFd);
      const got = await read;
      lease.release();
      fs.closeSync(inFd);
      expect(result.error?.code).toBe('ECANCELED');
      expect(got.length).toBe(result.bytes);
      expect(got.length).toBeLessThan(data.length);
      expect(sha256(got)).toBe(sha256(data.subarray(0, got.length)));
    });
});

describe.skipIf(FALLBACK)('sendFast: a page-cached range on the JS thread', () => {
  it('sendfile, mmap and copy move it exactly; splice is not for the JS thread (-1)', async () => {
    const { file, data } = randomFile(dir, MiB / 2 + 100, 'fast');
    const inFd = fs.openSync(file, 'r');
    try {
      for (const strategy of ['sendfile', 'mmap', 'copy'] as Strategy[]) {
        const pipe = createPipe({ nonBlock: true, size: MiB });
        const read = readAll(pipe.readFd);
        let sent = -1;
        // The range must be in the page cache (-1 otherwise): read it in first, again if something evicted it.
        for (let i = 0; i < 5 && sent === -1; i++) {
          fs.readFileSync(file);
          sent = binding!.sendFast({ strategy, outFd: pipe.writeFd, inFd, offset: 100, length: data.length - 100 });
        }
        fs.closeSync(pipe.writeFd);
        expect(sent).toBe(data.length - 100);
        expect(sha256(await read)).toBe(sha256(data.subarray(100)));
      }
      fs.readFileSync(file);
      expect(binding!.sendFast({ strategy: 'splice', outFd: 1, inFd, offset: 0, length: 10 })).toBe(-1);
    } finally {
      fs.closeSync(inFd);
    }
  });
});
