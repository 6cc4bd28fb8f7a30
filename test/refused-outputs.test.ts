// receiveFile into outputs that splice refuses or that fail: the bytes arrive whole by read/write inside the
// engine (an O_APPEND file), and on an error the socket is readable again with every byte it still owes.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { copyFileRange, receiveFile, sendFile, stats } from '../src/index';
import { FALLBACK, randomFile, sha256, sleep, tempDir } from './helpers';

const dir = tempDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const MiB = 2 ** 20;

/** A connected pair on 127.0.0.1: [the client that sends, the accepted socket that receives]. */
async function pair(): Promise<[net.Socket, net.Socket]> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  const receiver = await accepted;
  server.close();
  return [client, receiver];
}

/** Everything the socket delivers until it ends, or what came within `ms` when it does not (a dead socket). */
function rest(socket: net.Socket, ms = 5000): Promise<{ data: Buffer; ended: boolean }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => resolve({ data: Buffer.concat(chunks), ended: false }), ms);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.once('end', () => {
      clearTimeout(timer);
      resolve({ data: Buffer.concat(chunks), ended: true });
    });
  });
}

const refusedReason = FALLBACK ? 'no-binding' : 'splice-refused';

describe('receiveFile into an O_APPEND file (splice answers EINVAL)', () => {
  it('with `length`: every byte appended by read/write, then the socket carries the next message', async () => {
    const dest = path.join(dir, 'append-length');
    fs.writeFileSync(dest, 'already here|');
    const fd = fs.openSync(dest, 'a');
    const data = randomBytes(5 * MiB + 3);
    const [client, receiver] = await pair();
    const before = stats().fallbacks[refusedReason] ?? 0;
    const stored = receiveFile(receiver, fd, { length: data.length });
    client.write(data);
    client.end('and the next message');
    expect(await stored).toBe(data.length);
    fs.closeSync(fd);
    const next = await rest(receiver);
    expect(next).toEqual({ data: Buffer.from('and the next message'), ended: true });
    const got = fs.readFileSync(dest);
    expect(got.subarray(0, 13).toString()).toBe('already here|');
    expect(sha256(got.subarray(13))).toBe(sha256(data));
    expect(stats().fallbacks[refusedReason]).toBe(before + 1);
  });

  it('until the peer ends: the whole upload appended', async () => {
    const dest = path.join(dir, 'append-end');
    fs.writeFileSync(dest, 'x');
    const fd = fs.openSync(dest, 'a');
    const data = randomBytes(3 * MiB + 1);
    const [client, receiver] = await pair();
    const stored = receiveFile(receiver, fd);
    client.end(data);
    expect(await stored).toBe(data.length);
    fs.closeSync(fd);
    const got = fs.readFileSync(dest);
    expect(got.length).toBe(data.length + 1);
    expect(sha256(got.subarray(1))).toBe(sha256(data));
    receiver.destroy();
  });
});

describe('receiveFile failing on its output', () => {
  it('a FIFO whose reader leaves: EPIPE, and the socket is readable again with every byte not written', async () => {
    const fifo = path.join(dir, 'leaving-reader');
    execFileSync('mkfifo', [fifo]);
    const head = path.join(dir, 'head');
    const reader = spawn('sh', ['-c', `exec head -c 1000 < '${fifo}' > '${head}'`], { stdio: 'ignore' });
    const exited = new Promise((r) => reader.on('exit', r));
    let fd = -1;
    for (let tries = 0; fd < 0 && tries < 500; tries++) { // once the reader's shell has opened its end
      try {
        fd = fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
      } catch {
        await sleep(10);
      }
    }
    const data = randomBytes(4 * MiB + 5);
    const [client, receiver] = await pair();
    const stored = receiveFile(receiver, fd);
    client.end(data);
    const err = await stored.then(() => undefined, (e) => e);
    await exited;
    fs.closeSync(fd);
    expect(err?.code).toBe('EPIPE');
    expect(err?.syscall).toBe(FALLBACK ? 'write' : 'splice');
    expect(fs.readFileSync(head).equals(data.subarray(0, 1000))).toBe(true);
    const after = await rest(receiver);
    expect(after.ended).toBe(true);
    expect(sha256(after.data)).toBe(sha256(data.subarray(err.bytes)));
  });

  it('an abort while it waits for data: rejects ABORT_ERR and the socket reads on, nothing lost', async () => {
    const dest = path.join(dir, 'abort-waiting');
    const [client, receiver] = await pair();
    const controller = new AbortController();
    const stored = receiveFile(receiver, dest, { signal: controller.signal });
    client.write('first ');
    await sleep(100);
    controller.abort();
    const err = await stored.then(() => undefined, (e) => e);
    expect(err?.code).toBe('ABORT_ERR');
    expect(fs.readFileSync(dest).toString()).toBe('first ');
    client.end('then the rest');
    expect(await rest(receiver)).toEqual({ data: Buffer.from('then the rest'), ended: true });
  });
});

describe('sendFile and copyFileRange into an O_APPEND file (sendfile EINVAL, copy_file_range EBADF)', () => {
  const { file, data } = randomFile(dir, 6 * MiB + 7, 'append-source');
  const appendTo = (name: string) => {
    const dest = path.join(dir, name);
    fs.writeFileSync(dest, 'pre|');
    return { dest, fd: fs.openSync(dest, 'a') };
  };
  const appended = (dest: string) => {
    const got = fs.readFileSync(dest);
    return got.subarray(0, 4).toString() === 'pre|' && sha256(got.subarray(4)) === sha256(data);
  };

  it('sendFile: appended whole by read/write inside the engine', async () => {
    const { dest, fd } = appendTo('send-append');
    const result = await sendFile(fd, file);
    fs.closeSync(fd);
    const reason = FALLBACK ? 'no-binding' : 'sendfile-refused';
    expect(result).toEqual({ bytes: data.length, zeroCopy: false, fallbackReason: reason, strategy: 'copy', reason });
    expect(appended(dest)).toBe(true);
  });

  it('copyFileRange: appended whole, never EBADF', async () => {
    const { dest, fd } = appendTo('copy-append');
    const before = stats().fallbacks[FALLBACK ? 'no-binding' : 'copy_file_range-refused'] ?? 0;
    expect(await copyFileRange(file, fd)).toBe(data.length);
    fs.closeSync(fd);
    expect(appended(dest)).toBe(true);
    expect(stats().fallbacks[FALLBACK ? 'no-binding' : 'copy_file_range-refused']).toBe(before + 1);
  });
});
