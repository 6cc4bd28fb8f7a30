// 'auto' tells a socket's destination once per connection and remembers it: a net.Socket connected again (a
// client's reconnect) may have a peer of another class, and is told by its new peer, not the first one's.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendFile } from '../src/index';
import { FALLBACK, randomFile, tempDir } from './helpers';

const work = tempDir();
let data: Buffer;
let file: string;

beforeAll(() => {
  ({ file, data } = randomFile(work, 200_000, '200k.bin'));
});
afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe.skipIf(FALLBACK)('the destination of a socket connected again', () => {
  it.each([['unix', 'tcp'], ['tcp', 'unix']] as const)('%s, then %s: each connection is told by its own peer',
    async (...order) => {
      const received = new Map<string, Buffer[]>();
      const collect = (name: string) => (c: net.Socket) => {
        const chunks: Buffer[] = [];
        received.set(name, chunks);
        c.on('data', (d) => chunks.push(d));
      };
      const unix = net.createServer(collect('unix'));
      const tcp = net.createServer(collect('tcp'));
      const sockPath = path.join(work, `${order.join('-')}.sock`);
      await new Promise<void>((r) => unix.listen(sockPath, r));
      await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
      const expected = { unix: 'auto:unix', tcp: 'auto:local-tcp' };
      const socket = new net.Socket();
      try {
        for (const peer of order) {
          if (peer === 'unix') socket.connect(sockPath);
          else socket.connect((tcp.address() as net.AddressInfo).port, '127.0.0.1');
          await new Promise((r) => socket.once('connect', r));
          const sent = await sendFile(socket, file);
          expect([sent.bytes, sent.reason]).toEqual([data.length, expected[peer]]);
          socket.end();
          await new Promise((r) => socket.once('close', r));
          for (let i = 0; i < 200 && Buffer.concat(received.get(peer) ?? []).length < data.length; i++) {
            await new Promise((r) => setTimeout(r, 10));
          }
          expect(sha256(Buffer.concat(received.get(peer) ?? []))).toBe(sha256(data));
        }
      } finally {
        socket.destroy();
        await new Promise((r) => unix.close(r));
        await new Promise((r) => tcp.close(r));
      }
    });
});
