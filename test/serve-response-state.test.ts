// serveFile takes the headers over from Node and sends the body past Node's write: Node's own state of the
// response must stay true. Headers Node has sent already (a writeHead hook that flushes them) are never sent a
// second time; a response with strictContentLength counts every body byte, so its end() does not throw.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendFile, serveFile, type ServeResult } from '../src/index';
import { listen, parseMultipart, parseResponses, rawExchange } from './http-clients';
import { randomFile, tempDir } from './helpers';

const work = tempDir();
let data: Buffer;

beforeAll(() => {
  data = randomFile(work, 200_000, '200k.bin').data;
});
afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

describe('headers Node has sent already', () => {
  // Middleware that flushes early headers for a slow response: they leave inside writeHead, before serveFile
  // looks. Taking them over again put a second status line where the body starts, and cut the body short.
  it.each(['auto', 'copy', 'sendfile', 'mmap', 'splice'] as const)('a writeHead hook that flushes them (strategy ' +
    '%s): the head goes out once, then the exact body', async (strategy) => {
    const results: ServeResult[] = [];
    const s = await listen(http.createServer((req, res) => {
      const writeHead = res.writeHead;
      res.writeHead = function flushing(this: http.ServerResponse, ...args: Parameters<typeof writeHead>) {
        const r = writeHead.apply(this, args);
        this.flushHeaders();
        return r;
      } as typeof writeHead;
      void serveFile(req, res, req.url!, { root: work, strategy }).then((r) => results.push(r));
    }));
    try {
      const raw = await rawExchange(s.port, 'GET /200k.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', () => false);
      expect(raw.toString('latin1').match(/HTTP\/1\.1 200 OK\r\n/g)).toHaveLength(1);
      const [response] = parseResponses(raw, [false]);
      expect(response.status).toBe(200);
      expect(response.body.equals(data)).toBe(true);
      for (let i = 0; i < 200 && results.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(results.map((r) => [r.status, r.bytes, r.error?.code])).toEqual([[200, data.length, undefined]]);
    } finally {
      await s.close();
    }
  });
});

describe('a response with strictContentLength', () => {
  // Node checks its own count of body bytes against Content-Length in end(): the body went past its write, so the
  // count said 0 and end() threw after every byte had gone. serveFile reported that error with bytes 0 and cut the
  // connection, and the next pipelined response on it was a 500.
  it.each(['auto', 'copy', 'sendfile', 'mmap', 'splice'] as const)('serveFile (strategy %s): a whole body, two ' +
    'ranges, then a whole body on one connection, each exact and counted, none an error', async (strategy) => {
    const results: ServeResult[] = [];
    const s = await listen(http.createServer((req, res) => {
      res.strictContentLength = true;
      void serveFile(req, res, req.url!, { root: work, strategy }).then((r) => results.push(r));
    }));
    try {
      const get = 'GET /200k.bin HTTP/1.1\r\nHost: x\r\n';
      const raw = await rawExchange(s.port, `${get}\r\n${get}Range: bytes=0-99,150000-150099\r\n\r\n` +
        `${get}Connection: close\r\n\r\n`, () => false);
      const [whole, ranges, last] = parseResponses(raw, [false, false, false]);
      expect([whole.status, ranges.status, last.status]).toEqual([200, 206, 200]);
      expect(whole.body.equals(data)).toBe(true);
      expect(parseMultipart(ranges.body, ranges.headers['content-type']).map((p) => p.body.toString('hex')))
        .toEqual([data.subarray(0, 100).toString('hex'), data.subarray(150000, 150100).toString('hex')]);
      expect(last.body.equals(data)).toBe(true);
      for (let i = 0; i < 200 && results.length < 3; i++) await new Promise((r) => setTimeout(r, 10));
      expect(results.map((r) => [r.status, r.bytes, r.error?.code])).toEqual([[200, data.length, undefined],
        [206, ranges.body.length, undefined], [200, data.length, undefined]]);
    } finally {
      await s.close();
    }
  });

  it("sendFile(res): the caller's res.end() afterwards finishes the response", async () => {
    const ends: unknown[] = [];
    const s = await listen(http.createServer((_req, res) => {
      res.strictContentLength = true;
      res.setHeader('Content-Length', data.length);
      void sendFile(res, path.join(work, '200k.bin')).then(() => {
        try {
          res.end();
          ends.push('ended');
        } catch (err) {
          ends.push((err as { code?: string }).code);
          res.destroy();
        }
      });
    }));
    try {
      const raw = await rawExchange(s.port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', () => false)
        .catch(() => Buffer.alloc(0));
      expect(ends).toEqual(['ended']);
      expect(parseResponses(raw, [false])[0].body.equals(data)).toBe(true);
    } finally {
      await s.close();
    }
  });
});
