// Data files for the benchmarks: random bytes (incompressible, no zero pages), written in 8 MiB chunks.
import { randomFillSync } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';

export function makeFile(file, size) {
  const fd = openSync(file, 'w');
  const chunk = Buffer.allocUnsafe(Math.min(size, 8 << 20));
  for (let off = 0; off < size; off += chunk.length) {
    randomFillSync(chunk);
    writeSync(fd, chunk, 0, Math.min(chunk.length, size - off));
  }
  closeSync(fd);
  return file;
}
