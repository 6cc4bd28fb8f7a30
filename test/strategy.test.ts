// Strategies per transfer: each one forced on each kind of destination moves the exact bytes and says so; 'auto'
// chooses by destination and says why; bad strategies and calibrations are refused with their codes; a file
// truncated by another process mid-transfer never ends as a success, whatever the strategy. Same suite on the
// fallback, where 'copy' is the only strategy and every other answers 'copy' with reason 'no-binding'.
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { afterAll, describe, expect, it } from 'vitest';
import { type Destination, type SendResult, type ServeResult, type Strategy, configure, createPipe, createStaticHandler, sendFile, serveFile, stats }
  from '../src/index';
import { DEFAULT_RULES } from '../src/seam/defaults';
import { FALLBACK_REASONS } from '../src/seam/reasons';
import { FALLBACK, autoStrategy, randomFile, sha256, tempDir } from './helpers';

const dir = tempDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const MiB = 2 ** 20;
const fixture = (name: string) => path.join(__dirname, 'fixtures', name);
const STRATEGIES: Strategy[] = ['sendfile', 'splice', 'mmap', 'copy'];
type Kind = 'tcp' | 'unix' | 'pipe' | 'file' | 'tls';
const KINDS: Kind[] = ['tcp', 'unix', 'pipe', 'file', 'tls'];
let sockets = 0;

/** A server (TCP on 127.0.0.1, a Unix socket, or TLS) whose one connection gets `send`; resolves with what the client read. */
async function overSocket(kind: 'tcp' | 'unix' | 'tls', send: (socket: net.Socket) => Promise<SendResult>) {
  let result!: Promise<SendResult>;
  const handle = (socket: net.Socket) => {
    result = send(socket);
    void result.then(() => socket.end(), () => socket.destroy());
  };
  const cert = fs.readFileSync(fixture('tls/cert.pem'));
  const server = kind === 'tls'
    ? tls.createServer({ key: fs.readFileSync(fixture('tls/key.pem')), cert }, handle)
    : net.createServer(handle);
  const where = kind === 'unix' ? path.join(dir, `s${++sockets}.sock`) : undefined;
  await new Promise<void>((r) => (where ? server.listen(where, r) : server.listen(0, '127.0.0.1', r)));
  const port = (server.address() as net.AddressInfo).port;
  const client = kind === 'tls' ? tls.connect({ port, host: '127.0.0.1', ca: cert, servername: 'localhost' })
    : where ? net.connect(where) : net.connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  client.on('data', (c) => chunks.push(c));
  await new Promise((r) => client.on('close', r));
  server.close();
  return { result: await result, got: Buffer.concat(chunks) };
}

/** Into a pipe read by a child `cat`, whose output is what came through. */
async function overPipe(send: (fd: number) => Promise<SendResult>) {
  const pipe = createPipe();
  const cat = spawn('cat', [], { stdio: [pipe.readFd, 'pipe', 'inherit'] });
  fs.closeSync(pipe.readFd);
  const chunks: Buffer[] = [];
  cat.stdout!.on('data', (c: Buffer) => chunks.push(c));
  const exited = new Promise((r) => cat.on('close', r));
  let result: SendResult;
  try {
    result = await send(pipe.writeFd);
  } finally {
    fs.closeSync(pipe.writeFd); // cat's EOF
  }
  await exited;
  return { result, got: Buffer.concat(chunks) };
}

async function overFile(send: (fd: number) => Promise<SendResult>) {
  const out = path.join(dir, `out-${++sockets}`);
  const fd = fs.openSync(out, 'w');
  try {
    const result = await send(fd);
    return { result, got: fs.readFileSync(out) };
  } finally {
    fs.closeSync(fd);
  }
}

function sendTo(kind: Kind, file: string, options: Parameters<typeof sendFile>[2]) {
  if (kind === 'pipe') return overPipe((fd) => sendFile(fd, file, options));
  if (kind === 'file') return overFile((fd) => sendFile(fd, file, options));
  return overSocket(kind, (socket) => sendFile(socket, file, options));
}

/** What a forced strategy reports: itself natively (TLS copies in user space), 'copy' on the fallback. */
function expectedForced(kind: Kind, strategy: Strategy): Pick<SendResult, 'strategy' | 'reason'> {
  if (kind === 'tls') return { strategy: 'copy', reason: 'tls' };
  if (FALLBACK && strategy !== 'copy') return { strategy: 'copy', reason: 'no-binding' };
  return { strategy, reason: 'forced' };
}

describe('each strategy forced on each destination', () => {
  const { file, data } = randomFile(dir, 3 * MiB + 12345, 'forced');
  for (const kind of KINDS) {
    it.each(STRATEGIES)(`${kind}: %s moves the exact bytes and reports itself`, async (strategy) => {
      const before = stats().strategies;
      const { result, got } = await sendTo(kind, file, { strategy });
      expect(got.length).toBe(data.length);
      expect(sha256(got)).toBe(sha256(data));
      const expected = expectedForced(kind, strategy);
      expect(result).toMatchObject({ bytes: data.length, ...expected });
      expect(result.zeroCopy).toBe(expected.strategy !== 'copy');
      expect(stats().strategies[expected.strategy]).toBe(before[expected.strategy] + 1);
    }, 60_000);
  }
});

describe("'auto'", () => {
  const { file, data } = randomFile(dir, 2 * MiB + 1, 'auto');
  const expected = (destination: Destination) => (FALLBACK ? { strategy: 'copy', reason: 'no-binding' }
    : { strategy: autoStrategy(destination, data.length), reason: `auto:${destination}` });

  it.each([['tcp', 'local-tcp'], ['pipe', 'pipe'], ['file', 'file'], ['unix', 'unix']] as const)(
    'to %s chooses by the rules for %s and says so', async (kind, destination) => {
      const { result, got } = await sendTo(kind, file, {});
      expect(sha256(got)).toBe(sha256(data));
      expect(result).toMatchObject({ bytes: data.length, ...expected(destination) });
    }, 60_000);

  it('is what a transfer gets without a strategy, and what strategy: "auto" asks for', async () => {
    const { result } = await sendTo('tcp', file, { strategy: 'auto' });
    expect(result).toMatchObject(expected('local-tcp'));
  });
});

describe('serveFile and createStaticHandler', () => {
  const { file, data } = randomFile(dir, 2 * MiB + 5, 'served.bin');
  const get = async (handler: http.RequestListener, url = '/') => {
    const server = http.createServer(handler);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const body = await new Promise<Buffer>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: (server.address() as net.AddressInfo).port, path: url }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('close', () => resolve(Buffer.concat(chunks))); // also when the response is cut
      }).on('error', reject);
    });
    server.close();
    return body;
  };

  it.each(STRATEGIES)('serveFile with strategy %s: exact body, strategy and strategyReason in the result', async (strategy) => {
    let result!: ServeResult;
    const body = await get(async (req, res) => {
      result = await serveFile(req, res, file, { strategy });
    });
    expect(sha256(body)).toBe(sha256(data));
    const expected = expectedForced('tcp', strategy);
    expect(result).toMatchObject({ status: 200, bytes: data.length, strategy: expected.strategy,
      strategyReason: expected.reason });
  }, 60_000);

  it("createStaticHandler passes its strategy on; without one, 'auto' picks for a peer on this host", async () => {
    const results: ServeResult[] = [];
    const forced = createStaticHandler(dir, { strategy: 'copy', onResponse: (_req, r) => results.push(r) });
    const auto = createStaticHandler(dir, { onResponse: (_req, r) => results.push(r) });
    expect(sha256(await get(forced, '/served.bin'))).toBe(sha256(data));
    expect(sha256(await get(auto, '/served.bin'))).toBe(sha256(data));
    expect(results[0]).toMatchObject({ strategy: 'copy', strategyReason: 'forced', zeroCopy: false });
    expect(results[1].strategyReason).toBe(FALLBACK ? 'no-binding' : 'auto:local-tcp');
  }, 60_000);
});

describe('a leased transfer to a peer on this host', () => {
  it.skipIf(FALLBACK).each(STRATEGIES)('forced %s: the bytes are copies (copy or mmap), reason lease-copy', async (strategy) => {
    const { file, data } = randomFile(dir, MiB + 3, `leased-${strategy}`);
    const { result, got } = await sendTo('tcp', file, { strategy, lease: true });
    expect(sha256(got)).toBe(sha256(data));
    expect(result).toMatchObject({ leased: true, leasePath: 'copy', fallbackReason: 'lease-copy', reason: 'lease-copy',
      strategy: strategy === 'mmap' ? 'mmap' : 'copy', zeroCopy: false });
  }, 60_000);
});

describe('truncated by another process mid-transfer, under each strategy', () => {
  it.each(STRATEGIES)('%s: ERR_FILE_TRUNCATED, a short body, never success', async (strategy) => {
    const size = 64 * MiB;
    const { file, data } = randomFile(dir, size, `truncated-${strategy}`);
    let outcome: unknown;
    const server = net.createServer((socket) => {
      sendFile(socket, file, { strategy }).then((r) => (outcome = r), (e) => {
        outcome = e;
        socket.destroy();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let got = 0;
    let truncating = false;
    client.on('data', (c) => {
      chunks.push(c);
      got += c.length;
      if (got > 4 * MiB && !truncating) {
        truncating = true;
        client.pause();
        spawn('truncate', ['-s', String(MiB), file]).on('exit', () => client.resume());
      }
    });
    client.on('error', () => {});
    await new Promise((r) => client.on('close', r));
    server.close();
    const received = Buffer.concat(chunks);
    expect(outcome).toMatchObject({ code: 'ERR_FILE_TRUNCATED' });
    expect(received.length).toBeLessThan(size);
    expect(received.subarray(0, MiB).equals(data.subarray(0, MiB))).toBe(true);
  }, 60_000);
});

describe('the closed vocabularies', () => {
  it.skipIf(FALLBACK)("every fallback reason the engine declares is one of the seam's", () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const native = require('node-gyp-build')(path.join(__dirname, '..')) as { fallbackReasons: string[] };
    expect(native.fallbackReasons.length).toBeGreaterThan(0);
    expect(native.fallbackReasons.filter((r) => !(FALLBACK_REASONS as readonly string[]).includes(r))).toEqual([]);
  });
});

describe('bad strategies and calibrations', () => {
  it('sendFile, serveFile and createStaticHandler refuse an unknown strategy with ERR_INVALID_ARG_VALUE', async () => {
    const { file } = randomFile(dir, 10, 'bad');
    await expect(sendFile(1, file, { strategy: 'zerocopy' as never })).rejects.toMatchObject({
      code: 'ERR_INVALID_ARG_VALUE', name: 'TypeError' });
    await expect(serveFile({ headers: {} } as never, { writeHead() {} } as never, file, { strategy: 1 as never }))
      .rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    expect(() => createStaticHandler(dir, { strategy: 'fast' as never })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => configure({ strategy: 'io_uring' as never })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  });

  it('configure() refuses a calibration that is missing, not JSON, or wrong in any field, and changes nothing', async () => {
    const good = { version: 1, measured: '2026-11-29', machine: 'test', rules: [] as unknown[] };
    const bad: [unknown, string][] = [
      [path.join(dir, 'missing.json'), 'ENOENT'],
      [{ ...good, version: 2 }, 'ERR_INVALID_ARG_VALUE'],
      [{ ...good, rules: 'all' }, 'ERR_INVALID_ARG_TYPE'],
      [{ ...good, rules: [{ destination: 'moon', minBytes: 0, strategy: 'copy' }] }, 'ERR_INVALID_ARG_VALUE'],
      [{ ...good, rules: [{ destination: 'file', minBytes: -1, strategy: 'copy' }] }, 'ERR_OUT_OF_RANGE'],
      [{ ...good, rules: [{ destination: 'file', minBytes: 0, strategy: 'dma' }] }, 'ERR_INVALID_ARG_VALUE'],
      [{ ...good, machine: 3 }, 'ERR_INVALID_ARG_TYPE'],
      [42, 'ERR_INVALID_ARG_TYPE'],
      // A hole: map() would skip it, and every 'auto' transfer after would throw a TypeError.
      // eslint-disable-next-line no-sparse-arrays
      [{ ...good, rules: [, { destination: 'file', minBytes: 0, strategy: 'copy' }] }, 'ERR_INVALID_ARG_TYPE'],
      // No file of rules: a FIFO without a writer would wait in open() forever, /dev/zero would never end.
      ['/dev/zero', 'ERR_INVALID_ARG_VALUE'],
    ];
    const notJson = path.join(dir, 'not.json');
    fs.writeFileSync(notJson, '{ rules: ');
    const fifo = path.join(dir, 'calibration.fifo');
    execFileSync('mkfifo', [fifo]);
    const huge = path.join(dir, 'huge.json');
    fs.writeFileSync(huge, `{"pad":"${'x'.repeat(2 << 20)}"}`);
    bad.push([notJson, 'ERR_INVALID_ARG_VALUE'], [fifo, 'ERR_INVALID_ARG_VALUE'], [huge, 'ERR_INVALID_ARG_VALUE']);
    for (const [calibration, code] of bad) {
      expect(() => configure({ calibration: calibration as never, strategy: 'copy' }), code).toThrow(
        expect.objectContaining({ code }));
    }
    // Nothing was applied: not the strategy given alongside, not a rule.
    const { file } = randomFile(dir, 100, 'after-bad');
    const { result } = await sendTo('file', file, {});
    expect(result.reason).toBe(FALLBACK ? 'no-binding' : 'auto:file');
  });

  it('a calibration file changes what auto picks, by size', async () => {
    const rules = [
      { destination: 'file', minBytes: 0, strategy: 'copy' },
      { destination: 'file', minBytes: MiB, strategy: 'sendfile' },
    ];
    const json = path.join(dir, 'calibration.json');
    fs.writeFileSync(json, JSON.stringify({ version: 1, measured: '2026-11-29', machine: 'test', rules }));
    configure({ calibration: json });
    try {
      const small = randomFile(dir, 1000, 'cal-small');
      const big = randomFile(dir, MiB + 1, 'cal-big');
      const a = await sendTo('file', small.file, {});
      const b = await sendTo('file', big.file, {});
      expect(sha256(a.got)).toBe(sha256(small.data));
      expect(sha256(b.got)).toBe(sha256(big.data));
      expect(a.result).toMatchObject({ strategy: 'copy', reason: 'auto:file' });
      expect(b.result).toMatchObject(FALLBACK ? { strategy: 'copy', reason: 'no-binding' }
        : { strategy: 'sendfile', reason: 'auto:file' });
    } finally {
      configure({ calibration: { version: 1, measured: '', machine: '', rules: DEFAULT_RULES.filter((r) => r.destination === 'file') } });
    }
  });
});
