// The default path ('auto', a kept file, a peer on 127.0.0.1: the open-file cache's map) under a truncate-and-extend
// by another process mid-response: the file is cut to 512 KiB and extended back to its size (a hole) while a slow
// client has read 1 MiB. Its states were: the original (no zero byte), its first 512 KiB, those followed by zeros.
// The response goes on from the map (the size is back, so no EFAULT and no short read): a complete 200 whose body is
// the original up to where the server had written (past 512 KiB) and zeros after, which is none of those states.
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ChildServer, walkableDirs } from './cache-server';
import { FALLBACK } from './helpers';
import { slowGet } from './http-clients';

const dirs = walkableDirs();


describe.skipIf(FALLBACK)('a kept file truncated and extended back under a response from its map', () => {
  it("'auto' to 127.0.0.1: a complete 200 is one state of the file (the original, or its prefix then zeros)", async () => {
    const root = dirs('trunc-extend');
    const size = 32 << 20;
    const data = Buffer.alloc(size);
    for (let i = 0; i < size; i++) data[i] = 1 + ((i * 7919 + (i >> 12) * 31) % 255); // never a zero byte
    const file = path.join(root, 'big.bin');
    fs.writeFileSync(file, data);
    const cut = 512 << 10;
    const server = new ChildServer(root, 'handler');
    try {
      const port = await server.port;
      expect((await slowGet(port, '/big.bin', Infinity, () => {})).body.equals(data)).toBe(true); // kept, mapped
      const r = await slowGet(port, '/big.bin', 1 << 20, () => execFileSync(process.execPath, ['-e',
        `const fs=require('fs');const fd=fs.openSync(${JSON.stringify(file)},'r+');fs.ftruncateSync(fd,${cut});` +
        `fs.ftruncateSync(fd,${size});fs.closeSync(fd)`]));
      expect(r.head).toMatch(/^HTTP\/1\.1 200 /);
      const extended = Buffer.concat([data.subarray(0, cut), Buffer.alloc(size - cut)]);
      const complete = r.body.length === size;
      const firstZero = r.body.indexOf(0);
      // Complete: the original, or the extended file; else cut short.
      expect({ complete, oneState: complete ? r.body.equals(data) || r.body.equals(extended) : false })
        .toEqual(complete ? { complete: true, oneState: true } : { complete: false, oneState: false });
      if (complete) expect(firstZero === -1 || firstZero === cut).toBe(true);
    } finally {
      await server.end();
    }
  }, 90_000);
});
