// serveFile's bytes on the wire, exactly: the headers now leave with the body's first bytes in one syscall
// (writev, or send(MSG_MORE) then sendfile) instead of Node's own header write inside a TCP_CORK pair. Each
// response of a pipelined stream is compared byte for byte with the one expected (status line, every header in
// order, body), through the fast path, the engine (a file out of the page cache) and the socket's output queue;
// and a peer that resets, or stalls until the server gives up, settles serveFile with the right error and
// leaves no fd open. The same suite runs on the read/write fallback.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evict, serveFile, type ServeResult } from '../src/index';
import { listen, parseMultipart, rawExchange, type Server } from './http-clients';
import { randomFile, settleFds, sleep, stableFdCount, tempDir } from './helpers';

const MiB = 2 ** 20;
const work = tempDir();
const files = new Map<string, Buffer>();
// Each strategy's server: 'copy' writes the headers with the first chunk in one writev, 'sendfile' and 'mmap'
// send them with MSG_MORE, 'splice' runs on the engine (the headers go first through Node, corked).
const STRATEGIES = ['auto', 'copy', 'sendfile', 'mmap', 'splice'] as const;
const servers = new Map<string, Server>();
let server: Server;
const results: ServeResult[] = [];
// Set by setHeaders: a latin1 value (obs-text, one octet per character, as Node writes headers before a Buffer body).
const LATIN1 = 'caf\u00e9';

beforeAll(async () => {
  for (const [name, size] of [['4k.bin', 4096], ['64k.bin', 65536], ['1m.bin', MiB], ['32m.bin', 32 * MiB]] as const) {
    files.set(name, randomFile(work, size, name).data);
  }
  for (const strategy of STRATEGIES) {
    servers.set(strategy, await listen(http.createServer((req, res) => {
      void serveFile(req, res, req.url!, { root: work, strategy, setHeaders: (r) => r.setHeader('X-Name', LATIN1) })
        .then((r) => results.push(r));
    })));
  }
  server = servers.get('auto')!;
});
afterAll(async () => {
  for (const s of servers.values()) await s.close();
  fs.rmSync(work, { recursive: true, force: true });
});

/** The exact response serveFile owes: the Date header is the only one taken from what came. */
function expected(name: string, date: string, head: boolean, range?: [number, number]): Buffer {
  const data = files.get(name)!;
  const st = fs.statSync(path.join(work, name), { bigint: true });
  const etag = `W/"${st.size.toString(16)}-${st.mtimeNs.toString(16)}"`;
  const body = range ? data.subarray(range[0], range[1] + 1) : data;
  const lines = [
    range ? 'HTTP/1.1 206 Partial Content' : 'HTTP/1.1 200 OK',
    `X-Name: ${LATIN1}`,
    'Accept-Ranges: bytes',
    `ETag: ${etag}`,
    `Last-Modified: ${new Date(Number(st.mtimeNs / 1_000_000n)).toUTCString()}`,
    'Content-Type: application/octet-stream',
    ...(range ? [`Content-Range: bytes ${range[0]}-${range[1]}/${data.length}`] : []),
    `Content-Length: ${body.length}`,
    `Date: ${date}`,
    'Connection: keep-alive',
    'Keep-Alive: timeout=5',
  ];
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), head ? Buffer.alloc(0) : body]);
}

/** The Date header of each response in a stream (responses are found by their status lines). */
function dates(stream: Buffer): string[] {
  return [...stream.toString('latin1').matchAll(/\r\nDate: ([^\r]*)\r\n/g)].map((m) => m[1]);
}

async function exchange(asks: { name: string; head?: boolean; range?: [number, number] }[], on = server):
  Promise<void> {
  const request = asks.map((a) => `${a.head ? 'HEAD' : 'GET'} /${a.name} HTTP/1.1\r\nHost: x\r\n` +
    `${a.range ? `Range: bytes=${a.range[0]}-${a.range[1]}\r\n` : ''}\r\n`).join('');
  // Every Date header has the same length (IMF-fixdate): the stream's length is known before it comes.
  const total = asks.reduce((n, a) => n + expected(a.name, new Date().toUTCString(), !!a.head, a.range).length, 0);
  const data = await rawExchange(on.port, request, (d) => d.length >= total);
  const seen = dates(data);
  const want = Buffer.concat(asks.map((a, i) => expected(a.name, seen[i], !!a.head, a.range)));
  expect(data.length).toBe(want.length);
  // Compared per response first, so that a failure names it.
  let at = 0;
  asks.forEach((a, i) => {
    const one = expected(a.name, seen[i], !!a.head, a.range);
    expect(data.subarray(at, at + one.length).equals(one), `response ${i} (${a.name})`).toBe(true);
    at += one.length;
  });
  expect(data.equals(want)).toBe(true);
}

describe('bytes on the wire', () => {
  it.each(STRATEGIES)('pipelined GET, HEAD and ranges (strategy %s): every response exact, headers in latin1, ' +
    'nothing between them', async (strategy) => {
    results.length = 0;
    await exchange([
      { name: '4k.bin' }, { name: '4k.bin', head: true }, { name: '64k.bin', range: [100, 60000] },
      { name: '1m.bin' }, { name: '4k.bin', range: [0, 0] }, { name: '1m.bin', range: [1, MiB - 2] }, { name: '64k.bin' },
      { name: '1m.bin', head: true }, { name: '4k.bin', range: [4095, 4095] },
    ], servers.get(strategy));
    // Each settles when its own body has gone (pipelined ones wait for the socket): in no set order.
    for (let i = 0; i < 300 && results.length < 9; i++) await sleep(10);
    expect(results.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 200, 206, 206, 206, 206]);
    expect(results.every((r) => r.error === undefined)).toBe(true);
  });

  it('a file out of the page cache (the engine sends it, the headers go first through Node): exact', async () => {
    // Evicting may leave pages the kernel keeps (or be unsupported): either way the bytes must be exact.
    for (const name of ['1m.bin', '64k.bin']) await evict(path.join(work, name)).catch(() => false);
    await exchange([{ name: '1m.bin' }, { name: '64k.bin', range: [1, 2] }, { name: '64k.bin' }]);
  });

  it('multipart ranges: the headers and each part\'s framing arrive before its bytes, exact', async () => {
    const data = await new Promise<{ type: string; body: Buffer }>((resolve, reject) => {
      http.get(`${server.url}/64k.bin`, { headers: { Range: 'bytes=0-9,1000-1999,65000-65535' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ type: res.headers['content-type']!, body: Buffer.concat(chunks) }));
      }).on('error', reject);
    });
    const whole = files.get('64k.bin')!;
    const parts = parseMultipart(data.body, data.type);
    expect(parts.map((p) => p.headers['content-range'])).toEqual(['bytes 0-9/65536', 'bytes 1000-1999/65536',
      'bytes 65000-65535/65536']);
    expect(parts.map((p) => p.body.equals(whole.subarray(...(p.headers['content-range'].match(/\d+/g)!.slice(0, 2)
      .map((n, i) => Number(n) + i) as [number, number]))))).toEqual([true, true, true]);
  });
});

describe('peers that go away or stall', () => {
  /** serveFile with no catch, on a server of the test's own: each outcome kept. */
  async function direct(options: () => object) {
    const outcomes: Promise<ServeResult>[] = [];
    const s = await listen(http.createServer((req, res) => {
      outcomes.push(serveFile(req, res, req.url!, { root: work, ...options() }));
    }));
    return { s, outcomes };
  }

  it('a peer that never reads: aborting settles with ABORT_ERR, the connection closed, no fd left', async () => {
    const before = await stableFdCount();
    const ac = new AbortController();
    const { s, outcomes } = await direct(() => ({ signal: ac.signal }));
    try {
      const socket = net.connect(s.port, '127.0.0.1', () => socket.write('GET /32m.bin HTTP/1.1\r\nHost: x\r\n\r\n'));
      socket.on('error', () => {});
      const closed = new Promise((r) => socket.on('close', r));
      socket.pause(); // stalled: the server fills the socket buffers and waits
      socket.once('readable', () => setTimeout(() => ac.abort(), 200));
      const result = await Promise.race([outcomes.length ? outcomes[0] : new Promise<ServeResult>((r) => {
        const poll = setInterval(() => outcomes.length && (clearInterval(poll), r(outcomes[0])), 5);
      }), new Promise<never>((_, reject) => setTimeout(() => reject(new Error('serveFile did not settle')), 10000))]);
      expect(result.error?.code).toBe('ABORT_ERR');
      expect(result.status).toBe(200);
      expect(result.bytes).toBeLessThan(32 * MiB);
      socket.resume();
      await closed;
    } finally {
      await s.close();
    }
    expect(await settleFds(before)).toBeLessThanOrEqual(before);
  });
});
