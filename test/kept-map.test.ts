// The open-file cache maps each kept file once, whole, and 'auto' answers a peer on this host with one writev from
// that map. Seen from the kernel's side: the mapping in /proc/self/maps while the file is kept, and none once the
// cache has let it go (its server closed, its Worker terminated).
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { serveFile, type ServeOptions, type ServeResult } from '../src/index';
import { listen } from './http-clients';
import { FALLBACK, randomFile, sha256, tempDir } from './helpers';

const work = tempDir();
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

/** This process's mappings of `file` (its path, as /proc/self/maps names it). */
function mappingsOf(file: string): string[] {
  return fs.readFileSync('/proc/self/maps', 'utf8').split('\n').filter((line) => line.endsWith(` ${file}`));
}

async function settled(check: () => boolean): Promise<boolean> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  return check();
}

/** A server whose answers are serveFile's, each result kept. */
async function server(root: string, options: ServeOptions = {}) {
  const results: ServeResult[] = [];
  const s = await listen(http.createServer((req, res) => {
    void serveFile(req, res, req.url!, { root, ...options }).then((r) => results.push(r));
  }));
  const get = (url: string) => new Promise<Buffer>((resolve, reject) => {
    http.get(`${s.url}${url}`, { agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks)));
      res.on('error', reject);
    }).on('error', reject);
  });
  return { ...s, results, get };
}

describe.skipIf(FALLBACK)('kept maps', () => {
  it('a kept file goes to a peer on this host by a write from its map, mapped once, unmapped when the server closes', async () => {
    const root = fs.mkdtempSync(path.join(work, 'root-'));
    const sizes = [1, 4096, 65_536 + 3, 2 ** 20];
    const files = sizes.map((size) => randomFile(root, size, `f-${size}.bin`));
    const s = await server(root);
    try {
      for (const { file, data } of files) {
        for (let round = 0; round < 2; round++) {
          expect(sha256(await s.get(`/${path.basename(file)}`))).toBe(sha256(data));
          await settled(() => s.results.length > 0);
          expect(s.results.pop()).toMatchObject({ status: 200, bytes: data.length, zeroCopy: true, strategy: 'mmap',
            strategyReason: 'auto:local-tcp' });
        }
        expect(mappingsOf(file)).toHaveLength(1); // one map, whatever the number of responses
        expect(mappingsOf(file)[0]).toMatch(/^\S+ r--s /); // read-only, shared
      }
    } finally {
      await s.close();
    }
    for (const { file } of files) expect(await settled(() => mappingsOf(file).length === 0)).toBe(true);
  });

  it('a strategy asked for wins over the map; an empty file is kept with no map', async () => {
    const root = fs.mkdtempSync(path.join(work, 'root-'));
    const { file, data } = randomFile(root, 4096, 'page.bin');
    const empty = path.join(root, 'empty.bin');
    fs.writeFileSync(empty, '');
    const s = await server(root, { strategy: 'sendfile' });
    try {
      for (let round = 0; round < 2; round++) {
        expect(sha256(await s.get('/page.bin'))).toBe(sha256(data));
        await settled(() => s.results.length > 0);
        expect(s.results.pop()).toMatchObject({ strategy: 'sendfile', strategyReason: 'forced' });
        expect((await s.get('/empty.bin')).length).toBe(0);
      }
      expect(mappingsOf(file)).toHaveLength(1);
      expect(mappingsOf(empty)).toHaveLength(0);
    } finally {
      await s.close();
    }
  });

  it('a Worker that kept files and is terminated leaves no mapping of them behind', async () => {
    const root = fs.mkdtempSync(path.join(work, 'root-'));
    for (let i = 0; i < 4; i++) fs.writeFileSync(path.join(root, `f${i}.txt`), `file ${i}`.repeat(1000));
    const mapped = () => fs.readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.includes(root)).length;
    const worker = new Worker(`
      const http = require('node:http');
      const { parentPort } = require('node:worker_threads');
      const zerocopy = require(${JSON.stringify(path.join(__dirname, '..', 'lib', 'index.js'))});
      const server = http.createServer(zerocopy.createStaticHandler(${JSON.stringify(root)}));
      server.listen(0, '127.0.0.1', async () => {
        for (let i = 0; i < 4; i++) {
          await new Promise((resolve) => http.get('http://127.0.0.1:' + server.address().port + '/f' + i + '.txt',
            { agent: false }, (res) => { res.resume(); res.on('end', resolve); }));
        }
        parentPort.postMessage('served');
      });`, { eval: true });
    await new Promise((resolve) => worker.once('message', resolve));
    expect(mapped()).toBe(4);
    await worker.terminate();
    expect(await settled(() => mapped() === 0)).toBe(true);
  });
});
