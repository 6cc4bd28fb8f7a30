// file -> TCP socket on 127.0.0.1, received by a separate process: sendFile against what Node users do today
// (an fs.read + socket.write loop, createReadStream().pipe()), mmap + write, and C programs doing read+write,
// sendfile and splice (the distance to the limit). Small files: many 4 KiB files on one open connection.
import { execFile } from 'node:child_process';
import { closeSync, createReadStream, mkdirSync, openSync, read, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { mapSync, sendFile } from 'zerocopy';
import { nativeProgram } from '../lib/native.mjs';
import { tcpReceiver } from '../lib/tcp-receiver-proc.mjs';

const readAsync = promisify(read);
const run = promisify(execFile);
const CHUNK = 256 * 1024;

let receiver;
async function getReceiver() {
  receiver ??= await tcpReceiver();
  return receiver;
}

function teardown() {
  receiver?.stop();
  receiver = undefined;
}

function connect(port) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => resolve(socket));
    socket.on('error', reject);
  });
}

function drained(socket) {
  return new Promise((resolve) => socket.once('drain', resolve));
}

/** A Node sender: `send(socket, file)` runs `times` times on one connection; the receiver's CPU is returned. */
function node(send) {
  return ({ files, times }) => async () => {
    const rx = await getReceiver();
    const socket = await connect(rx.port);
    return async () => {
      for (let i = 0; i < times; i++) await send(socket, files[i % files.length]);
      socket.end();
      return (await rx.report()).cpu;
    };
  };
}

/** The C baseline in one mode: its own timing and CPU, plus the receiver's CPU. */
function native(mode) {
  return ({ files, times }) => async () => {
    const program = nativeProgram('send');
    if (!program) return async () => ({ seconds: NaN, senderCpu: NaN });
    const rx = await getReceiver();
    return async () => {
      const [{ stdout }, report] = await Promise.all([
        run(program, [mode, String(rx.port), String(times), ...files]),
        rx.report(),
      ]);
      const { seconds, cpu } = JSON.parse(stdout);
      return { seconds, senderCpu: cpu, receiverCpu: report.cpu };
    };
  };
}

const readWrite = async (socket, file) => {
  const fd = openSync(file, 'r');
  for (;;) {
    const chunk = Buffer.allocUnsafe(CHUNK);
    const { bytesRead } = await readAsync(fd, chunk, 0, CHUNK, null);
    if (bytesRead === 0) break;
    if (!socket.write(bytesRead === CHUNK ? chunk : chunk.subarray(0, bytesRead))) await drained(socket);
  }
  closeSync(fd);
};

const streamPipe = (socket, file) => new Promise((resolve, reject) => {
  const stream = createReadStream(file);
  stream.on('end', resolve).on('error', reject);
  stream.pipe(socket, { end: false });
});

const mmapWrite = (socket, file) => new Promise((resolve) => {
  const mapping = mapSync(file);
  socket.write(mapping.buffer, () => {
    mapping.unmap();
    resolve();
  });
});

const methods = {
  'read+write': node(readWrite),
  'stream.pipe': node(streamPipe),
  'mmap+write': node(mmapWrite),
  sendFile: node((socket, file) => sendFile(socket, file)),
  'C read+write': native('readwrite'),
  'C sendfile': native('sendfile'),
  'C splice': native('splice'),
};

export const fileToSocket = {
  name: 'file-to-socket',
  title: 'file → TCP socket on 127.0.0.1 → receiving process',
  baseline: 'read+write',
  sizes: (full) => (full ? [64 * 1024, 1 << 20, 64 << 20, 1 << 30] : [64 * 1024, 1 << 20, 64 << 20]),
  prepare: ({ file, size }) => ({ files: [file], times: Math.max(1, Math.floor((64 << 20) / size)) }),
  methods,
  teardown,
};

// Many small page-cached files, each opened, sent and closed on one open connection.
const SMALL_FILES = 256;
export const smallFiles = {
  name: 'small-files',
  title: 'many 4 KiB cached files on one open connection',
  baseline: 'read+write',
  perItem: 'file',
  sizes: () => [4096],
  prepare: ({ file }) => {
    const dir = join(dirname(file), 'small');
    mkdirSync(dir, { recursive: true });
    const files = Array.from({ length: SMALL_FILES }, (_, i) => {
      const f = join(dir, `f${i}`);
      writeFileSync(f, randomBytes(4096));
      return f;
    });
    return { files, times: 5000 };
  },
  methods: {
    'read+write': methods['read+write'],
    sendFile: methods.sendFile,
    'C read+write': methods['C read+write'],
    'C sendfile': methods['C sendfile'],
  },
  teardown,
};
