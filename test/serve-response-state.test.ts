// serveFile takes the headers over from Node and sends the body past Node's write: Node's own state of the
// response must stay true. Headers Node has sent already (a writeHead hook that flushes them) are never sent a
// second time; a response with strictContentLength counts every body byte, so its end() does not throw.
import * as fs from 'node:fs';
import * as http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveFile, type ServeResult } from '../src/index';
import { listen, parseResponses, rawExchange } from './http-clients';
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
