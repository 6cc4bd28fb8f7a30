// An upload to disk: a C sender (sendfile) sends to this process, which stores it with receiveFile (socket ->
// pipe -> file) or socket.pipe(fs.createWriteStream()). The file lands in the page cache (no fsync).
import { execFile } from 'node:child_process';
import { createWriteStream, rmSync } from 'node:fs';
import * as net from 'node:net';
import { promisify } from 'node:util';
import { receiveFile } from 'zerocopy';
import { nativeProgram } from '../lib/native.mjs';

const run = promisify(execFile);

function storing(store) {
  return ({ file, times }) => async () => {
    const sender = nativeProgram('send');
    const dest = `${file}.upload`;
    rmSync(dest, { force: true });
    const server = net.createServer();
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    const stored = new Promise((resolve) => server.once('connection', (socket) => resolve(store(socket, dest))));
    return async () => {
      await Promise.all([run(sender, ['sendfile', String(server.address().port), String(times), file]), stored]);
      server.close();
    };
  };
}

export const upload = {
  name: 'upload',
  title: 'socket → file (an upload from a separate C sender)',
  baseline: 'socket.pipe(createWriteStream)',
  sizes: () => [1 << 30],
  fileSize: 256 << 20,
  methods: {
    'socket.pipe(createWriteStream)': storing((socket, dest) => new Promise((resolve, reject) => {
      const out = createWriteStream(dest);
      socket.pipe(out).on('finish', resolve).on('error', reject);
      socket.on('end', () => socket.end());
    })),
    receiveFile: storing(async (socket, dest) => {
      await receiveFile(socket, dest);
      socket.end();
    }),
  },
};
