// Kept maps are bounded in number (a quarter of vm.max_map_count) but not in size: each kept file is mapped whole,
// and a sparse file costs no disk. A directory of large sparse files (VM disk images, preallocated downloads), each
// asked for once (a 1-byte range), fills the server's address space with kept maps; then any growth of its heap
// aborts the process (std::bad_alloc / V8's fatal OOM). The server below serves every request meanwhile; the test
// asks it to allocate what a busy server allocates (~200 MB of small objects) and expects it to live.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { FALLBACK, tempDir } from './helpers';

const work = tempDir();
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

function get(port: number, url: string, headers: http.OutgoingHttpHeaders = {}): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    http.get(`http://127.0.0.1:${port}${url}`, { agent: false, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

/** A sparse file of `size` bytes (at most what the filesystem allows): its size. */
function sparse(file: string, size: bigint): bigint {
  fs.closeSync(fs.openSync(file, 'w'));
  for (let s = size; s >= 4096n; s = s / 2n / 4096n * 4096n) {
    try {
      fs.truncateSync(file, Number(s));
      return s;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EFBIG') throw err;
    }
  }
  return 0n;
}

describe.skipIf(FALLBACK)('kept maps and the address space', () => {
  it('sparse files asked for once each do not leave the server unable to grow its heap', async () => {
    const root = fs.mkdtempSync(path.join(work, 'root-'));
    const child = spawn(process.execPath, [path.join(__dirname, 'fixtures', 'kept-map-address-space.mjs'), root]);
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += String(c)));
    const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
      child.once('exit', (code, signal) => resolve([code, signal])));
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const next = async (): Promise<string> => {
      const line = await Promise.race([lines.next(), exited.then(() => ({ done: true, value: '' }))]);
      return line.done ? '' : line.value;
    };
    try {
      const port = Number(await next());
      const unusable = new Set<string>();
      let last: string | undefined;
      let lastMapped = 0;
      for (let i = 0; i < 1500; i++) {
        child.stdin.write('gaps\n');
        const [mapped, ...gaps] = (await next()).split(' ');
        // A gap the last file did not go into (the stack's guard gap): not tried again.
        if (last && Number(mapped) <= lastMapped) unusable.add(last);
        lastMapped = Number(mapped);
        const best = gaps.map((g) => [g, BigInt(g.split(':')[1])] as const).filter(([g]) => !unusable.has(g))
          .sort((a, b) => (a[1] > b[1] ? -1 : a[1] < b[1] ? 1 : 0))[0];
        if (!best || best[1] < 2n ** 21n) break;
        last = best[0];
        // Each file in a directory of its own: a new name beside a kept file would drop it.
        fs.mkdirSync(path.join(root, `d${i}`));
        sparse(path.join(root, `d${i}`, 'image.raw'), best[1] / 4096n * 4096n);
        const reply = await get(port, `/d${i}/image.raw`, { Range: 'bytes=0-0' });
        expect(reply.status).toBe(206);
        expect(reply.body).toEqual(Buffer.alloc(1));
      }
      child.stdin.write('alloc\n');
      const answer = await next();
      const exit = await Promise.race([exited, new Promise((resolve) => setTimeout(() => resolve(null), 2000))]);
      expect({ answer, exit, stderr: stderr.split('\n').slice(0, 3).join('\n') })
        .toEqual({ answer: 'allocated 3000000', exit: null, stderr: '' });
    } finally {
      child.stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
  }, 300_000);
});
