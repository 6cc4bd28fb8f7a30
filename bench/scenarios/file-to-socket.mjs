// file -> TCP socket on 127.0.0.1, received by a separate process: sendFile (by its own choice, and forced to each
// strategy) against what Node users do today (an fs.read + socket.write loop, createReadStream().pipe()), mmap +
// write, and C programs doing read+write, sendfile, splice and mmap+write (the distance to the limit; the table
// shows each row against the fastest of them). Small files: many 4 KiB files on one open connection.
import { execFile } from 'node:child_process';
import { closeSync, createReadStream, fstatSync, mkdirSync, openSync, read, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { createPipe, mapSync, sendFile, spliceSync } from 'zerocopy';
import { nativeProgram } from '../lib/native.mjs';
import { Skipped } from '../lib/skipped.mjs';
import { tcpReceiver } from '../lib/tcp-receiver-proc.mjs';

const readAsync = promisify(read);
const run = promisify(execFile);
const CHUNK = 256 * 1024;

let receiver;
export async function getReceiver() {
  receiver ??= await tcpReceiver();
  return receiver;
}

export function teardown() {
  receiver?.stop();
  receiver = undefined;
}

/** Connects to a receiver's port on 127.0.0.1, or to its Unix socket path. */
export function connect(port) {
  return new Promise((resolve, reject) => {
    const socket = typeof port === 'string' ? net.connect(port, () => resolve(socket))
      : net.connect(port, '127.0.0.1', () => resolve(socket));
    socket.on('error', reject);
  });
}

function drained(socket) {
  return new Promise((resolve) => socket.once('drain', resolve));
}

/** A Node sender: `send(socket, file)` runs `times` times on one connection; the receiver's CPU is returned. */
export function node(send) {
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

// Chunks no larger than what is left of the file: a 4 KiB file reads into a 4 KiB buffer, not a 256 KiB one.
export const readWrite = async (socket, file) => {
  const fd = openSync(file, 'r');
  const size = fstatSync(fd).size;
  for (let offset = 0; offset < size;) {
    const chunk = Buffer.allocUnsafe(Math.min(CHUNK, size - offset));
    const { bytesRead } = await readAsync(fd, chunk, 0, chunk.length, offset);
    if (bytesRead === 0) break;
    offset += bytesRead;
    if (!socket.write(bytesRead === chunk.length ? chunk : chunk.subarray(0, bytesRead))) await drained(socket);
  }
  closeSync(fd);
};

export const streamPipe = (socket, file) => new Promise((resolve, reject) => {
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

// The raw calls by hand: file → pipe (blocking, the page cache) → socket (non-blocking; on EAGAIN, yield and
// retry, as a program without the engine must).
const SPLICE_CHUNK = 1 << 20;
const spliceLoop = async (socket, file) => {
  const fd = openSync(file, 'r');
  const size = fstatSync(fd).size;
  const pipe = createPipe({ size: SPLICE_CHUNK });
  const socketFd = socket._handle.fd;
  try {
    for (let offset = 0; offset < size;) {
      const moved = spliceSync(fd, pipe.writeFd, Math.min(SPLICE_CHUNK, size - offset), { offsetIn: offset });
      for (let left = moved; left > 0;) {
        try {
          left -= spliceSync(pipe.readFd, socketFd, left, { nonBlock: true, more: true });
        } catch (err) {
          if (err.code !== 'EAGAIN') throw err;
          await new Promise(setImmediate);
        }
      }
      offset += moved;
    }
  } finally {
    closeSync(fd);
    closeSync(pipe.readFd);
    closeSync(pipe.writeFd);
  }
};

/** sendFile forced to one strategy; a run whose result names another strategy is skipped, with sendFile's reason. */
export function forced(strategy) {
  let moved = { strategy };
  const run = node(async (socket, file) => {
    moved = await sendFile(socket, file, { strategy });
  });
  return (context) => async () => {
    const go = await run(context)();
    return async () => {
      const receiverCpu = await go();
      if (moved.strategy !== strategy) throw new Skipped(`not offered here: sendFile moved it with ${moved.strategy} (${moved.reason})`);
      return receiverCpu;
    };
  };
}

export const STRATEGIES = ['sendfile', 'splice', 'mmap', 'copy'];

const methods = {
  'read+write': node(readWrite),
  'stream.pipe': node(streamPipe),
  'mmap+write': node(mmapWrite),
  sendFile: node((socket, file) => sendFile(socket, file)),
  ...Object.fromEntries(STRATEGIES.map((s) => [`sendFile ${s}`, forced(s)])),
  'spliceSync loop': node(spliceLoop),
  'C read+write': native('readwrite'),
  'C sendfile': native('sendfile'),
  'C splice': native('splice'),
  'C mmap+write': native('mmap'),
};

export const fileToSocket = {
  name: 'file-to-socket',
  title: 'file → TCP socket on 127.0.0.1 → receiving process',
  baseline: 'read+write',
  native: (method) => method.startsWith('C '),
  // 1 MiB is sent 64 times per run; 64 MiB and 256 MiB once.
  sizes: (full) => (full ? [4096, 64 * 1024, 1 << 20, 64 << 20, 256 << 20, 1 << 30] : [1 << 20, 64 << 20, 256 << 20]),
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
