// Direct I/O against buffered reads and writes, and what each leaves in the page cache.
// Reading: a "hot" working set is read (so it is cached), then a cold file twice its size is read from the
// device (evict() first) by a 1 MiB read() loop, by openDirect (8 MiB aligned reads on the engine threads), and
// through map() (touching one byte per page); GB/s, CPU (the whole process, engine threads included), how much
// of the hot set residency() still finds cached, and how much of the cold file each left in the cache.
// Writing: a file written by fs.writeSync + fsync against openDirect writes + sync(), and the bytes cached after.
import { closeSync, fsyncSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { alignedBuffer, capabilities, evict, map, openDirect, residency } from 'zerocopy';
import { makeFile } from '../lib/files.mjs';
import { fixed, percent } from '../lib/format.mjs';
import { median, spread } from '../lib/measure.mjs';

const MiB = 1024 * 1024;
const CHUNK = 8 * MiB;

function readLoop(file, size, buffer) {
  const fd = openSync(file, 'r');
  for (let at = 0; at < size;) at += readSync(fd, buffer, 0, MiB, at);
  closeSync(fd);
}

async function readDirect(file, size, buffer) {
  const f = await openDirect(file);
  for (let at = 0; at < size;) at += await f.read(buffer, at);
  await f.close();
}

async function readMapped(file) {
  const m = await map(file);
  let sum = 0;
  for (let i = 0; i < m.buffer.length; i += 4096) sum += m.buffer[i];
  m.unmap();
  return sum;
}

async function writeBuffered(file, size, buffer) {
  const fd = openSync(file, 'w');
  for (let at = 0; at < size; at += CHUNK) writeSync(fd, buffer, 0, CHUNK, at);
  fsyncSync(fd);
  closeSync(fd);
}

async function writeDirect(file, size, buffer) {
  const f = await openDirect(file, 'w');
  for (let at = 0; at < size; at += CHUNK) await f.write(buffer, at);
  await f.sync();
  await f.close();
}

async function timed(fn) {
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await fn();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  return { seconds, cpu: (cpu.user + cpu.system) / 1e6 };
}

/** MiB of `file` in the page cache, or undefined where residency() cannot tell (no addon: cached is null). */
function cachedMiB(file) {
  const { cached } = residency(file);
  return cached === null ? undefined : cached / MiB;
}

function summary(samples, bytes, extra) {
  const gb = bytes / 1e9;
  const rates = samples.map((s) => gb / s.seconds);
  return {
    gbPerSecond: median(rates),
    gbPerSecondSpread: spread(rates),
    cpuPerGb: median(samples.map((s) => s.cpu / gb)),
    // A figure residency() could not give is left out, never a 0.
    ...Object.fromEntries(Object.keys(extra[0]).filter((k) => extra.every((e) => e[k] !== undefined))
      .map((k) => [k, median(extra.map((e) => e[k]))])),
  };
}

export const direct = {
  name: 'direct',
  title: 'direct I/O (openDirect) against buffered read()/write() and map(), from and to an ext4 file (cold cache)',
  async run({ dir, full, smoke, runs, progress }) {
    const hotSize = smoke ? 4 * MiB : full ? 256 * MiB : 64 * MiB;
    const coldSize = 2 * hotSize;
    const writeSize = smoke ? 8 * MiB : full ? 1024 * MiB : 256 * MiB;
    const hot = makeFile(join(dir, 'direct-hot'), hotSize);
    const cold = makeFile(join(dir, 'direct-cold'), coldSize);
    const readBuffer = Buffer.alloc(MiB);
    const directBuffer = alignedBuffer(CHUNK);
    const rows = [];

    const readMethods = {
      'read() loop, 1 MiB': () => readLoop(cold, coldSize, readBuffer),
      'openDirect, 8 MiB reads': () => readDirect(cold, coldSize, directBuffer),
      'map, a byte per page': () => readMapped(cold),
    };
    for (const [method, read] of Object.entries(readMethods)) {
      const samples = [];
      const extra = [];
      for (let i = 0; i < runs; i++) {
        progress(`direct read: ${method} (${i + 1}/${runs})`);
        await evict(cold);
        await evict(hot);
        readLoop(hot, hotSize, readBuffer); // the hot set, cached
        samples.push(await timed(read));
        const hotMiB = cachedMiB(hot);
        extra.push({ hotCachedPct: hotMiB === undefined ? undefined : (100 * hotMiB * MiB) / hotSize, coldCachedMiB: cachedMiB(cold) });
      }
      rows.push({ scenario: 'direct', case: `read ${coldSize / MiB} MiB`, method, runs, ...summary(samples, coldSize, extra) });
    }
    await evict(cold);
    await evict(hot);

    const writeBuffer = alignedBuffer(CHUNK);
    writeBuffer.fill(0x5a);
    const target = join(dir, 'direct-written');
    const writeMethods = {
      'fs.writeSync + fsync': () => writeBuffered(target, writeSize, writeBuffer),
      'openDirect write + sync()': () => writeDirect(target, writeSize, writeBuffer),
    };
    for (const [method, write] of Object.entries(writeMethods)) {
      const samples = [];
      const extra = [];
      for (let i = 0; i < runs; i++) {
        progress(`direct write: ${method} (${i + 1}/${runs})`);
        samples.push(await timed(write));
        extra.push({ writtenCachedMiB: cachedMiB(target) });
        unlinkSync(target);
      }
      rows.push({ scenario: 'direct', case: `write ${writeSize / MiB} MiB`, method, runs, ...summary(samples, writeSize, extra) });
    }
    return rows;
  },
  print(rows, table) {
    if (rows.every((r) => r.hotCachedPct === undefined && r.coldCachedMiB === undefined && r.writtenCachedMiB === undefined)) {
      console.log(`page-cache figures ('-'): skipped: residency() needs the native addon (${capabilities().reason})`);
    }
    table(['case', 'method', 'GB/s', '±', 'CPU s/GB', 'hot set cached', 'left in cache MiB'], rows.map((r) => [
      r.case,
      r.method,
      fixed(r.gbPerSecond),
      percent(r.gbPerSecondSpread),
      fixed(r.cpuPerGb, 3),
      r.hotCachedPct === undefined ? '-' : `${fixed(r.hotCachedPct, 0)}%`,
      fixed(r.coldCachedMiB ?? r.writtenCachedMiB, 0),
    ]));
  },
};
