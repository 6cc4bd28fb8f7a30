// A response under a lease (`lease: true`) whose lease is given up before its first byte (a writer opened the
// file while JS was busy, and the lease thread let it go): the client never gets a whole response of the writer's
// bytes under the validators of the file as it was leased, and it gets the headers of the short response.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveFile, type ServeResult } from '../src/index';
import { listen, parseResponses, rawExchange } from './http-clients';
import { FALLBACK, randomFile, tempDir } from './helpers';

const work = tempDir();
let data: Buffer;

beforeAll(() => {
  data = randomFile(work, 200_000, '200k.bin').data;
});
afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

describe('a lease given up before the first byte', () => {
  // serve.ts promises that on a lease break "the client sees a short response, never one missing its headers" (and
  // before issue 17 the headers had gone out through Node before the body). Now they wait to leave with the body's
  // first bytes: when the lease thread has given the lease up before JS heard of it (a writer opened the file while
  // JS was busy), sendFast's copy refuses the first chunk (ECANCELED) and the headers with it, the socket is
  // destroyed, and the client reads an empty reply: no status line at all.
  it.each(['auto', 'copy', 'mmap'] as const)('lease: true, a writer opens the file between the lease and the send ' +
    '(strategy %s): the client still reads the status line, the result says ERR_LEASE_BROKEN', async (strategy) => {
    const dir = fs.mkdtempSync(path.join(work, 'lease-'));
    fs.writeFileSync(path.join(dir, 'f.bin'), data);
    const results: ServeResult[] = [];
    const s = await listen(http.createServer((req, res) => {
      void serveFile(req, res, req.url!, { root: dir, strategy, lease: true, leaseGraceMs: 100, setHeaders: () => {
        // Another process opens the file for writing while JS is busy: its open waits for the lease to go.
        spawnSync(process.execPath, ['-e', `require('fs').closeSync(require('fs').openSync(${JSON.stringify(
          path.join(dir, 'f.bin'))}, 'r+'))`], { timeout: 10_000 });
      } }).then((r) => results.push(r));
    }));
    try {
      const raw = await rawExchange(s.port, 'GET /f.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', () => false).catch(() => Buffer.alloc(0));
      for (let i = 0; i < 200 && results.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(results).toHaveLength(1);
      if (results[0].error) {
        expect(results[0].error.code).toBe('ERR_LEASE_BROKEN');
        expect(raw.subarray(0, 17).toString('latin1')).toBe('HTTP/1.1 200 OK\r\n');
        expect(raw.length).toBeLessThan(data.length);
      } else {
        // No lease to break (the read/write fallback has none): the whole response.
        expect(parseResponses(raw, [false])[0].body.equals(data)).toBe(true);
      }
    } finally {
      await s.close();
    }
  });
});

describe.skipIf(FALLBACK)('a lease given up before the first byte, on the remote-peer path', () => {
  // Pre-existing (the same before issue 17), found while breaking the head + body path. ZEROCOPY_LEASE_PEERS=remote
  // is the tests' stand-in for a real remote client (the sendfile-until-acked path). A writer opens the file and
  // rewrites it while JS is busy after the lease was taken: the lease thread's grace runs out with nothing sent
  // (nothing to reset) and it lets the writer go. JS then sends through sendFast's sendfile, which never looks at
  // the lease: the client receives a complete, well-formed 200 whose body is the writer's bytes under the ETag
  // and Last-Modified of the file as it was leased (a cache stores them together), and only the server's result
  // says ERR_LEASE_BROKEN. The lease promised "the response is exactly the file", or one visibly cut short.
  it.each(['auto', 'sendfile'] as const)('strategy %s: the client never receives a whole response of bytes the ' +
    'file did not have when its validators were taken', async (strategy) => {
    process.env.ZEROCOPY_LEASE_PEERS = 'remote';
    const dir = fs.mkdtempSync(path.join(work, 'lease-remote-'));
    const file = path.join(dir, 'f.bin');
    fs.writeFileSync(file, data);
    const results: ServeResult[] = [];
    const s = await listen(http.createServer((req, res) => {
      void serveFile(req, res, req.url!, { root: dir, strategy, lease: true, leaseGraceMs: 100, setHeaders: () => {
        spawnSync(process.execPath, ['-e', `const fs = require('fs'); const fd = fs.openSync(${JSON.stringify(file)}, 'r+'); ` +
          `fs.writeSync(fd, Buffer.alloc(${data.length}, 90), 0, ${data.length}, 0); fs.closeSync(fd)`], { timeout: 10_000 });
      } }).then((r) => results.push(r));
    }));
    try {
      const raw = await rawExchange(s.port, 'GET /f.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', () => false).catch(() => Buffer.alloc(0));
      for (let i = 0; i < 200 && results.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(results[0]?.error?.code).toBe('ERR_LEASE_BROKEN');
      const end = raw.indexOf('\r\n\r\n');
      const body = end < 0 ? Buffer.alloc(0) : raw.subarray(end + 4);
      // Cut short (as the result says), and never the writer's bytes.
      expect(body.length).toBeLessThan(data.length);
      expect(body.equals(data.subarray(0, body.length))).toBe(true);
    } finally {
      delete process.env.ZEROCOPY_LEASE_PEERS;
      await s.close();
    }
  });
});
