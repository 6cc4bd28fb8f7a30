// file -> file: copy_file_range and sendfile against a read+write loop and fs.copyFileSync.
import { closeSync, copyFileSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { copyFileRangeSync, sendfileSync } from 'zerocopy';

const CHUNK = 1 << 20;
const buf = Buffer.allocUnsafe(CHUNK);

/**
 * Copies the file `times` times with `copy(file, dest, size)`. Every run starts without a destination; the
 * previous one is removed before the clock starts (unlinking 64 MiB of cached pages alone takes ~30 ms).
 */
function copyingPaths(copy) {
  return ({ file, size, times }) => async () => {
    const dest = `${file}.copy`;
    rmSync(dest, { force: true });
    return async () => {
      for (let i = 0; i < times; i++) copy(file, dest, size);
    };
  };
}

/** The same with open fds: `copy(fdIn, fdOut, size)`. */
function copying(copy) {
  return copyingPaths((file, dest, size) => {
    const fdIn = openSync(file, 'r');
    const fdOut = openSync(dest, 'w');
    copy(fdIn, fdOut, size);
    closeSync(fdIn);
    closeSync(fdOut);
  });
}

export default {
  name: 'file-to-file',
  title: 'file → file (page-cached source)',
  baseline: 'read+write',
  methods: {
    'read+write': copying((fdIn, fdOut, size) => {
      for (let off = 0; off < size;) {
        const n = readSync(fdIn, buf, 0, Math.min(CHUNK, size - off), off);
        for (let w = 0; w < n;) w += writeSync(fdOut, buf, w, n - w);
        off += n;
      }
    }),
    'fs.copyFileSync': copyingPaths((file, dest) => copyFileSync(file, dest)),
    copyFileRangeSync: copying((fdIn, fdOut, size) => {
      for (let off = 0; off < size;) off += copyFileRangeSync(fdIn, fdOut, size - off);
    }),
    sendfileSync: copying((fdIn, fdOut, size) => {
      for (let off = 0; off < size;) off += sendfileSync(fdOut, fdIn, { length: size - off });
    }),
  },
};
