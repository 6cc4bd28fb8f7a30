// A kept file (the open-file cache's map) served with strategy 'mmap' to a slow client on a Unix socket, truncated
// by another process to the middle of a page and then written back whole. A Unix stream socket takes a write in
// skbs of a fixed size and stops, when its send buffer is full, at an skb's end: where that end falls inside the
// page holding the new end of file, the skb carried that page's tail read from the map as zeros (no EFAULT, no
// short count) and the transfer parked after it. Written back, the file is whole again; the transfer goes on from
// the map and the response ends complete: a 200 with every byte of its Content-Length, 100 of them zeros where the
// file never held a zero. The file's states: the original, a prefix of it, the original again.
// The client (test/fixtures/stall-reader.py) reads by a fixed schedule and notes where the server's writes stop
// (FIONREAD no longer growing); a dry run with the same schedule gives the stall to aim the cut at. 'sendfile'
// under the same schedule delivers the file exactly or a body cut short (both kept promises), never a zero.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FALLBACK, tempDir } from './helpers';

const work = tempDir();
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));
const fixtures = path.join(__dirname, 'fixtures');

interface Read { stalls: number[]; head: string; headLength: number; body: string }

async function scenario(strategy: string, size: number) {
  const dir = fs.mkdtempSync(path.join(work, `${strategy}-`));
  const root = path.join(dir, 'root');
  fs.mkdirSync(root);
  const data = Buffer.alloc(size);
  for (let i = 0; i < size; i++) data[i] = 1 + ((i * 7919 + (i >> 12) * 31) % 255); // never a zero byte
  const file = path.join(root, 'f.bin');
  fs.writeFileSync(file, data);
  const sock = path.join(dir, 's.sock');
  const server: ChildProcess = spawn(process.execPath, [path.join(fixtures, 'unix-static.mjs'), root, sock],
    { env: { ...process.env, CACHE_OPTIONS: JSON.stringify({ strategy }) }, stdio: ['pipe', 'pipe', 'inherit'] });
  try {
    await new Promise((resolve) => server.stdout!.once('data', resolve));
    const read = (plan: object): Read => JSON.parse(execFileSync('python3',
      [path.join(fixtures, 'stall-reader.py'), sock, '/f.bin', '65536', JSON.stringify(plan)],
      { encoding: 'utf8', maxBuffer: 1 << 28, timeout: 60_000 }));
    read({}); // kept (and mapped) by a first response
    const dry = read({});
    const h = dry.headLength;
    let m = -1;
    for (let i = 1; i < dry.stalls.length && m < 0; i++) {
      const b = dry.stalls[i] - h;
      if (b > (1 << 20) && b < size - 8192 && (strategy !== 'mmap' || b % 4096 > 200) && Math.floor((b - 100) / 4096) * 4096 > dry.stalls[i - 1] - h) m = i;
    }
    expect(m).toBeGreaterThan(0); // a stall far from the end (for 'mmap' inside a page: its skbs are not page-sized)
    const cut = dry.stalls[m] - h - 100;
    const tail = path.join(dir, 'tail.bin');
    fs.writeFileSync(tail, data.subarray(cut));
    const node = JSON.stringify(process.execPath);
    const r = read({
      cutAt: m + 1,
      cut: `${node} -e "require('fs').truncateSync('${file}', ${cut})"`,
      restore: `${node} -e "const fs=require('fs');const fd=fs.openSync('${file}','r+');const d=fs.readFileSync('${tail}');` +
        `fs.writeSync(fd,d,0,d.length,${cut});fs.closeSync(fd)"`,
    });
    const body = Buffer.from(r.body, 'hex');
    return { data, cut, head: r.head, body, sameStalls: r.stalls[m] === dry.stalls[m] };
  } finally {
    server.stdin!.end();
    server.kill();
  }
}

describe.skipIf(FALLBACK)('a kept file truncated mid-page and written back under a response from its map (Unix socket)', () => {
  it("strategy 'mmap': a complete 200 is the file exactly; a response that is not ends short, never whole with zeros", async () => {
    const size = 2 << 20;
    const { data, cut, head, body } = await scenario('mmap', size);
    expect(head).toMatch(/^HTTP\/1\.1 200 /);
    expect(head).toMatch(new RegExp(`\\r\\ncontent-length: ${size}\\r\\n`, 'i'));
    const complete = body.length === size;
    expect({ complete, whole: body.equals(data), zerosAfterCut: complete && body.subarray(cut, cut + 100).every((b) => b === 0) })
      .toEqual(complete ? { complete: true, whole: true, zerosAfterCut: false } : { complete: false, whole: false, zerosAfterCut: false });
    expect(body.indexOf(0)).toBe(-1);
  }, 120_000);

  it("strategy 'sendfile', same schedule and a cut: the file exactly, or cut short", async () => {
    const size = 2 << 20;
    const { data, body } = await scenario('sendfile', size);
    if (body.length === size) expect(body.equals(data)).toBe(true);
    else expect(body.length).toBeLessThan(size);
    expect(body.indexOf(0)).toBe(-1);
  }, 120_000);
});
