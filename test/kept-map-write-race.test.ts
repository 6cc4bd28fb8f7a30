// Responses written from a kept file's map (to a peer on 127.0.0.1) while another process, over and over,
// cuts the file inside its last page and writes the cut bytes back. The file never holds a zero byte: its states
// are the original and that prefix. A write from the map that was under way when the cache's lease was given up
// would copy the last page after the cut, as zeros, with no error and no short count; the lease thread therefore
// lets the writer go only once such writes have ended (lease::Hold). So no byte received is ever a zero, and a
// complete body is one of the two states.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ChildServer, walkableDirs } from './cache-server';
import { FALLBACK } from './helpers';

const dirs = walkableDirs();

interface Seen { complete: number; prefix: number; cut: number; zeros: number; other: number }

/** GETs `url` over one keep-alive connection until `stop()`; sorts what each response brought. */
async function fetchUntil(port: number, url: string, data: Buffer, cutAt: number, stop: () => boolean, seen: Seen) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    while (!stop()) {
      await new Promise<void>((resolve) => {
        http.get({ host: '127.0.0.1', port, path: url, agent }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('close', () => {
            const body = Buffer.concat(chunks);
            const length = Number(res.headers['content-length']);
            if (body.includes(0)) seen.zeros++;
            else if (!res.complete || body.length < length) seen.cut++;
            else if (body.equals(data)) seen.complete++;
            else if (body.equals(data.subarray(0, cutAt))) seen.prefix++;
            else seen.other++;
            resolve();
          });
        }).on('error', () => {
          seen.cut++;
          resolve();
        });
      });
    }
  } finally {
    agent.destroy();
  }
}

describe.skipIf(FALLBACK)('a kept file cut in its last page and written back, again and again, under responses', () => {
  it('from the map to 127.0.0.1: no byte received is a zero; a whole body is the original or its prefix', async () => {
    const root = dirs('write-race');
    const size = (1 << 20) + 2000; // a write from the map takes long enough for a writer to land inside it
    const cutAt = (1 << 20) + 1000;
    const data = Buffer.alloc(size);
    for (let i = 0; i < size; i++) data[i] = 1 + ((i * 7919 + (i >> 12) * 31) % 255); // never a zero byte
    const file = path.join(root, 'f.bin');
    fs.writeFileSync(file, data);
    // 'mmap': a kept file is written from the cache's map, as 'auto' does to this host. Between a break and the
    // next keep the file is served unkept, where 'auto' would use sendfile, whose queued page references a cut
    // can zero after the call (Pages outlive the call, README); 'mmap' copies there, the last page by pread.
    const server = new ChildServer(root, 'handler', undefined, { options: { strategy: 'mmap' } });
    try {
      const port = await server.port;
      // 4,000 cuts and restores, ~1 ms apart: each breaks the cache's lease; the entry is kept again after. With
      // the lease thread not waiting for writes under way, 5 runs in 5 received zeros (1,500 cuts: 3 in 6).
      const changer = spawn(process.execPath, ['-e', `const fs = require('fs');
        const tail = fs.readFileSync(${JSON.stringify(file)}).subarray(${cutAt});
        const nap = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
        for (let i = 0; i < 4000; i++) {
          nap(1);
          fs.truncateSync(${JSON.stringify(file)}, ${cutAt});
          const fd = fs.openSync(${JSON.stringify(file)}, 'r+');
          fs.writeSync(fd, tail, 0, tail.length, ${cutAt});
          fs.closeSync(fd);
        }`], { stdio: 'inherit' });
      let done = false;
      const exited = new Promise<void>((resolve) => changer.on('exit', () => resolve()));
      void exited.then(() => (done = true));
      const seen: Seen = { complete: 0, prefix: 0, cut: 0, zeros: 0, other: 0 };
      await Promise.all([0, 1, 2, 3, 4, 5].map(() => fetchUntil(port, '/f.bin', data, cutAt, () => done, seen)));
      expect({ zeros: seen.zeros, other: seen.other }, JSON.stringify(seen)).toEqual({ zeros: 0, other: 0 });
      expect(seen.complete, JSON.stringify(seen)).toBeGreaterThan(0);
    } finally {
      await server.end();
    }
  }, 120_000);
});
