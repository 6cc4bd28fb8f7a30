// file -> pipe -> another process: the raw syscalls against a read+write loop, with blocking fds.
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { sendfileSync, spliceSync } from 'zerocopy';
import { pipeReceiver } from '../lib/pipe-receiver.mjs';

const CHUNK = 1 << 20;

/** Sends the file `times` times into a fresh receiver with `send(fd, writeFd, size)`, checking the count. */
function through(send) {
  return ({ file, size, times }) => async () => {
    const rx = await pipeReceiver();
    const fd = openSync(file, 'r');
    return async () => {
      for (let i = 0; i < times; i++) send(fd, rx.writeFd, size);
      closeSync(fd);
      const report = await rx.finish();
      if (report.bytes !== size * times) throw new Error(`receiver got ${report.bytes} of ${size * times} bytes`);
      return report.cpu;
    };
  };
}

const buf = Buffer.allocUnsafe(CHUNK);

export default {
  name: 'file-to-pipe',
  title: 'file → pipe → receiving process (raw syscalls, blocking fds)',
  baseline: 'read+write',
  methods: {
    'read+write': through((fd, out, size) => {
      for (let off = 0; off < size;) {
        const n = readSync(fd, buf, 0, Math.min(CHUNK, size - off), off);
        for (let w = 0; w < n;) w += writeSync(out, buf, w, n - w);
        off += n;
      }
    }),
    sendfileSync: through((fd, out, size) => {
      for (let off = 0; off < size;) off += sendfileSync(out, fd, { offset: off, length: size - off });
    }),
    spliceSync: through((fd, out, size) => {
      for (let off = 0; off < size;) off += spliceSync(fd, out, size - off, { offsetIn: off });
    }),
  },
};
