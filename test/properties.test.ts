// Property tests (fast-check): for random files, offsets and lengths, every transfer API delivers exactly the
// bytes that fs.readFileSync(file).subarray(start, end) names. The same properties run natively and on the
// forced fallback (the vitest projects).
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  copyFileRange,
  copyFileRangeSync,
  createPipe,
  mapSync,
  proxy,
  receiveFile,
  sendFile,
  sendfileSync,
  serveFile,
  spliceSync,
  vmspliceSync,
} from '../src/index';
import { randomFile, tempDir } from './helpers';

const dir = tempDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const SIZES = [1, 4095, 4096, 4097, 65537, (1 << 20) + 3];
const files = SIZES.map((size) => randomFile(dir, size, `prop-${size}`));
const RUNS = { numRuns: 40 };

/** A file, and a range inside it: [start, start + length). */
const fileAndRange = fc.constantFrom(...files).chain((f) =>
  fc.integer({ min: 0, max: f.data.length }).chain((start) =>
    fc.integer({ min: 0, max: f.data.length - start }).map((length) => ({ ...f, start, length }))));

/** Reads exactly n bytes from a blocking fd. */
function readExactly(fd: number, n: number): Buffer {
  const out = Buffer.alloc(n);
  for (let got = 0; got < n;) got += fs.readSync(fd, out, got, n - got, null);
  return out;
}

/** Moves `length` bytes through a pipe with `step` (which fills it), reading each batch back. */
function throughPipe(length: number, step: (pipeWriteFd: number, done: number, want: number) => number): Buffer {
  const pipe = createPipe();
  const chunks: Buffer[] = [];
  try {
    for (let done = 0; done < length;) {
      const n = step(pipe.writeFd, done, Math.min(length - done, 32768));
      if (n === 0) throw new Error('no progress');
      chunks.push(readExactly(pipe.readFd, n));
      done += n;
    }
  } finally {
    fs.closeSync(pipe.readFd);
    fs.closeSync(pipe.writeFd);
  }
  return Buffer.concat(chunks);
}

let server: net.Server;
let port: number;
/** Each connection to `port` runs the next handler queued here. */
const handlers: ((socket: net.Socket) => void)[] = [];
beforeAll(async () => {
  server = net.createServer((s) => handlers.shift()!(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as net.AddressInfo).port;
});
afterAll(() => server.close());

/** A connected pair: [client, the server's side]. */
async function pair(): Promise<[net.Socket, net.Socket]> {
  const accepted = new Promise<net.Socket>((resolve) => handlers.push(resolve));
  const client = net.connect(port, '127.0.0.1');
  await new Promise((r) => client.once('connect', r));
  return [client, await accepted];
}

function collect(socket: net.Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    socket.on('data', (c) => chunks.push(c)).on('end', () => resolve(Buffer.concat(chunks))).on('error', reject);
  });
}

describe('every transfer delivers exactly the bytes it names', () => {
  it('sendfileSync file → pipe', () => {
    fc.assert(fc.property(fileAndRange, ({ file, data, start, length }) => {
      const fd = fs.openSync(file, 'r');
      try {
        const got = throughPipe(length, (w, done, want) => sendfileSync(w, fd, { offset: start + done, length: want }));
        return got.equals(data.subarray(start, start + length));
      } finally {
        fs.closeSync(fd);
      }
    }), RUNS);
  });

  it('spliceSync file → pipe', () => {
    fc.assert(fc.property(fileAndRange, ({ file, data, start, length }) => {
      const fd = fs.openSync(file, 'r');
      try {
        const got = throughPipe(length, (w, done, want) => spliceSync(fd, w, want, { offsetIn: start + done }));
        return got.equals(data.subarray(start, start + length));
      } finally {
        fs.closeSync(fd);
      }
    }), RUNS);
  });

  it('vmspliceSync buffer slices → pipe', () => {
    fc.assert(fc.property(fileAndRange, ({ data, start, length }) => {
      const got = throughPipe(length, (w, done, want) => vmspliceSync(w, data.subarray(start + done, start + done + want)));
      return got.equals(data.subarray(start, start + length));
    }), RUNS);
  });

  it('copyFileRangeSync and copyFileRange file → file at an output offset', async () => {
    await fc.assert(fc.asyncProperty(fileAndRange, fc.integer({ min: 0, max: 70000 }), fc.boolean(),
      async ({ file, data, start, length }, at, async) => {
        const dst = path.join(dir, 'prop-copy');
        fs.writeFileSync(dst, '');
        if (async) {
          expect(await copyFileRange(file, dst, { offsetIn: start, offsetOut: at, length })).toBe(length);
        } else {
          const inFd = fs.openSync(file, 'r');
          const outFd = fs.openSync(dst, 'r+');
          for (let done = 0; done < length;) {
            const n = copyFileRangeSync(inFd, outFd, length - done, { offsetIn: start + done, offsetOut: at + done });
            if (n === 0) throw new Error('no progress');
            done += n;
          }
          fs.closeSync(inFd);
          fs.closeSync(outFd);
        }
        const out = fs.readFileSync(dst);
        return length === 0 || (out.length === at + length && out.subarray(at).equals(data.subarray(start, start + length)));
      }), RUNS);
  });

  it('sendFile file → socket, and file → fd', async () => {
    await fc.assert(fc.asyncProperty(fileAndRange, fc.boolean(), async ({ file, data, start, length }, toSocket) => {
      const expected = data.subarray(start, start + length);
      if (toSocket) {
        const [client, side] = await pair();
        const got = collect(client);
        await sendFile(side, file, { offset: start, length });
        side.end();
        return (await got).equals(expected);
      }
      const out = path.join(dir, 'prop-sendfile');
      const fd = fs.openSync(out, 'w');
      await sendFile(fd, file, { offset: start, length });
      fs.closeSync(fd);
      return fs.readFileSync(out).equals(expected);
    }), RUNS);
  });

  it('receiveFile socket → file at an offset, the rest left on the socket', async () => {
    await fc.assert(fc.asyncProperty(fileAndRange, fc.integer({ min: 0, max: 5000 }),
      async ({ data, start, length }, at) => {
        const [client, side] = await pair();
        const dst = path.join(dir, 'prop-received');
        fs.writeFileSync(dst, '');
        const trailer = Buffer.from('NEXT');
        const stored = receiveFile(side, dst, { length, offset: at });
        client.write(Buffer.concat([data.subarray(start, start + length), trailer]));
        expect(await stored).toBe(length);
        const rest = await new Promise<Buffer>((resolve) => {
          const chunks: Buffer[] = [];
          side.on('data', (c) => {
            chunks.push(c);
            if (Buffer.concat(chunks).length >= trailer.length) resolve(Buffer.concat(chunks));
          });
        });
        client.destroy();
        side.destroy();
        const out = fs.readFileSync(dst);
        return rest.equals(trailer) && (length === 0 || out.subarray(at).equals(data.subarray(start, start + length)));
      }), RUNS);
  });

  it('proxy relays random chunks exactly, both ways', async () => {
    await fc.assert(fc.asyncProperty(fileAndRange, fileAndRange, async (one, two) => {
      const [a, relayA] = await pair();
      const [relayB, b] = await pair();
      const toB = collect(b);
      const toA = collect(a);
      const relayed = proxy(relayA, relayB);
      a.end(one.data.subarray(one.start, one.start + one.length));
      b.end(two.data.subarray(two.start, two.start + two.length));
      const [gotB, gotA, counts] = await Promise.all([toB, toA, relayed]);
      return gotB.equals(one.data.subarray(one.start, one.start + one.length)) &&
        gotA.equals(two.data.subarray(two.start, two.start + two.length)) &&
        counts.aToB === one.length && counts.bToA === two.length;
    }), { numRuns: 20 });
  });

  it('mapSync ranges and readInto', () => {
    fc.assert(fc.property(fileAndRange.filter((r) => r.length > 0), fc.nat(), ({ file, data, start, length }, skew) => {
      const mapping = mapSync(file, { offset: start, length });
      try {
        const expected = data.subarray(start, start + length);
        const inner = skew % length;
        const copy = Buffer.alloc(length - inner);
        mapping.readInto(copy, { offset: inner });
        return mapping.buffer.equals(expected) && copy.equals(expected.subarray(inner));
      } finally {
        mapping.unmap();
      }
    }), RUNS);
  });

  it('serveFile answers a Range with exactly those bytes', async () => {
    const file = files[files.length - 1];
    const s = http.createServer((req, res) => void serveFile(req, res, file.file));
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(s.address() as net.AddressInfo).port}/`;
    try {
      await fc.assert(fc.asyncProperty(fc.integer({ min: 0, max: file.data.length - 1 }), fc.nat(), async (first, span) => {
        const last = Math.min(file.data.length - 1, first + (span % 200000));
        const res = await fetch(url, { headers: { Range: `bytes=${first}-${last}` } });
        const body = Buffer.from(await res.arrayBuffer());
        return res.status === 206 && body.equals(file.data.subarray(first, last + 1));
      }), { numRuns: 30 });
    } finally {
      s.closeAllConnections();
      s.close();
    }
  });
});
