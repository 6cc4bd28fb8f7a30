// A kept file truncated by another process while a response from its map is in flight (a slow reader, so that the
// engine writes the rest from the map): the page that holds the new end of file is still mapped, and reads as
// zeros past it, with no EFAULT and no short count. So when the new end lies in the last page of what is left to
// send, the whole Content-Length goes out, its tail zeros: a complete-looking 200 (the connection is destroyed
// only after the client has every byte it was promised). With 'sendfile' the same truncation cuts the body short.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ChildServer, walkableDirs } from './cache-server';
import { FALLBACK, randomFile, sha256 } from './helpers';
import { pausedExchange, slowGet } from './http-clients';

const dirs = walkableDirs();


/** truncate(2) by path, in another process (it waits for the lease break, as any writer does). */
function truncateElsewhere(file: string, size: number): void {
  execFileSync(process.execPath, ['-e', `require('fs').truncateSync(${JSON.stringify(file)}, ${size})`]);
}

describe.skipIf(FALLBACK)('a kept file truncated under a response from its map', () => {
  for (const cut of [1, 4000]) {
    it(`truncated by ${cut} bytes (the new end in the last page) mid-response: the body is cut short, never whole with zeros`, async () => {
      const root = dirs('trunc');
      const size = 32 << 20;
      const { file, data } = randomFile(root, size, 'big.bin');
      const server = new ChildServer(root, 'handler'); // strategy 'auto': the map; with 'sendfile' both pass
      try {
        const port = await server.port;
        // Kept (and mapped) by a first response, read whole.
        const first = await slowGet(port, '/big.bin', Infinity, () => {});
        expect(sha256(first.body)).toBe(sha256(data));
        const r = await slowGet(port, '/big.bin', 1 << 20, () => truncateElsewhere(file, size - cut));
        expect(r.head).toMatch(/^HTTP\/1\.1 200 /);
        const length = Number(/\r\ncontent-length: (\d+)/i.exec(r.head)![1]);
        expect(length).toBe(size);
        // Either cut short (fewer bytes than promised), or every promised byte the file's.
        const zerosAtTail = r.body.length === length ? r.body.subarray(size - cut).every((b) => b === 0) : false;
        expect({ complete: r.body.length === length, whole: r.body.equals(data), zerosAtTail })
          .toEqual({ complete: false, whole: false, zerosAtTail: false });
      } finally {
        await server.end();
      }
    }, 60_000);
  }

  it('a small kept file truncated by 1 byte while its pipelined request waits its turn: cut short, never whole with a zero', async () => {
    const root = dirs('trunc-small');
    const big = randomFile(root, 32 << 20, 'big.bin');
    const small = randomFile(root, 10_000, 'small.bin');
    const server = new ChildServer(root, 'handler');
    try {
      const port = await server.port;
      for (const { data } of [big, small]) {
        const name = data === big.data ? '/big.bin' : '/small.bin';
        expect(sha256((await slowGet(port, name, Infinity, () => {})).body)).toBe(sha256(data));
      }
      // The second request is looked up (a hit) as it arrives; its response waits for the first one's to end.
      const raw = await pausedExchange(port,
        'GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\nGET /small.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
        1 << 20, () => truncateElsewhere(small.file, 10_000 - 1));
      const firstEnd = raw.indexOf('\r\n\r\n') + 4;
      expect(sha256(raw.subarray(firstEnd, firstEnd + (32 << 20)))).toBe(sha256(big.data));
      const second = raw.subarray(firstEnd + (32 << 20));
      const end = second.indexOf('\r\n\r\n');
      const head = second.subarray(0, end).toString('latin1');
      const body = second.subarray(end + 4);
      expect(head).toMatch(/^HTTP\/1\.1 200 /);
      expect(head).toMatch(/\r\ncontent-length: 10000\r\n/i);
      expect({ complete: body.length === 10_000, lastByte: body.length === 10_000 ? body[9_999] : undefined,
        whole: body.equals(small.data) }).toEqual({ complete: false, lastByte: undefined, whole: false });
    } finally {
      await server.end();
    }
  }, 60_000);
});
