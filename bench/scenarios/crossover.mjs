// Where sendFile stops paying off: small page-cached files sent one after another on one connection, sendFile
// against an fs.read + socket.write loop, by file size. Prints the smallest size from which sendFile costs less
// sender CPU per file at that size and every larger one.
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sendFile } from 'zerocopy';
import { repeat } from '../lib/measure.mjs';
import { fixed } from '../lib/format.mjs';
import { node, readWrite, teardown } from './file-to-socket.mjs';

const FILES = 64;
const human = (n) => (n >= 1024 ? `${n / 1024} KiB` : `${n} B`);

const METHODS = {
  'read+write': node(readWrite),
  sendFile: node((socket, file) => sendFile(socket, file)),
};

export const crossover = {
  name: 'crossover',
  title: 'small-file crossover: sender CPU per file, sendFile against fs.read + socket.write',
  async run({ dir, smoke, runs, progress }) {
    const sizes = smoke ? [1024, 16384] : [256, 1024, 2048, 4096, 8192, 16384, 65536];
    const times = smoke ? 200 : 3000;
    const rows = [];
    for (const size of sizes) {
      const sub = join(dir, `crossover-${size}`);
      mkdirSync(sub, { recursive: true });
      const files = Array.from({ length: FILES }, (_, i) => {
        const f = join(sub, `f${i}`);
        writeFileSync(f, randomBytes(size));
        return f;
      });
      for (const [method, prepare] of Object.entries(METHODS)) {
        progress(`crossover ${human(size)}: ${method}`);
        const stats = await repeat(size * times, runs, prepare({ files, times }));
        rows.push({ scenario: 'crossover', size, method, times, cpuUsPerFile: (stats.senderCpu / times) * 1e6,
          filesPerSecond: times / stats.seconds, spread: stats.gbPerSecondSpread });
      }
    }
    teardown();
    rows.push(crossoverRow(rows, sizes));
    return rows;
  },
  print(rows, table) {
    const sizes = rows.filter((r) => r.size).map((r) => r.size).filter((s, i, a) => a.indexOf(s) === i);
    table(['file size', 'read+write µs/file', 'sendFile µs/file', 'sendFile / read+write', 'sendFile files/s'],
      sizes.map((size) => [
        human(size),
        fixed(cost(rows, size, 'read+write'), 1),
        fixed(cost(rows, size, 'sendFile'), 1),
        fixed(cost(rows, size, 'sendFile') / cost(rows, size, 'read+write'), 2),
        fixed(rows.find((r) => r.size === size && r.method === 'sendFile').filesPerSecond, 0),
      ]));
    console.log(rows.find((r) => r.crossover).crossover);
  },
};

/**
 * The smallest size from which sendFile costs no more sender CPU per file at that size and every larger one: as a
 * sentence (a null would say nothing), with the size too when there is one.
 */
export function crossoverRow(rows, sizes) {
  const at = sizes.find((size, i) => sizes.slice(i).every((s) => cost(rows, s, 'sendFile') <= cost(rows, s, 'read+write')));
  if (at === undefined) {
    return { scenario: 'crossover', crossover: `sendFile never costs less sender CPU per file here (${human(sizes[0])} to ${human(sizes.at(-1))})` };
  }
  return { scenario: 'crossover', crossoverBytes: at,
    crossover: `sendFile costs less sender CPU per file from ${human(at)} up${at === sizes[0] ? ' (the smallest size measured)' : ''}` };
}

function cost(rows, size, method) {
  return rows.find((r) => r.size === size && r.method === method).cpuUsPerFile;
}
