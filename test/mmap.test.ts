// Mappings over real files: truncation by real child processes, the guard's chaining, deterministic unmap,
// large files, worker threads, and bad input by error code. Under the forced fallback the same calls copy.
import { constants as bufferConstants } from 'node:buffer';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { Mapping, createPipe, map, mapSync, vmspliceSync } from '../src/index';
import { FALLBACK, sha256, tempDir } from './helpers';

const dir = tempDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const MiB = 2 ** 20;
const GiB = 2 ** 30;
const fixture = (name: string) => path.join(__dirname, 'fixtures', name);

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

async function until(check: () => boolean, ms = 2000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!check() && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
  return check();
}

function mapsLines(file: string): number {
  return fs.readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.endsWith(file)).length;
}

describe('truncation by another process', () => {
  // Large enough that a JS pass over it (tens of ms) outlasts spawning the truncating child.
  const size = 16 * MiB;
  const keep = 4096;
  const content = randomBytes(size);
  const rounds = FALLBACK ? 10 : 40;

  it(`reads zeros past the new end while a child truncates, ${rounds} rounds in a row`, async () => {
    const file = path.join(dir, 'truncate-me');
    for (let round = 0; round < rounds; round++) {
      fs.writeFileSync(file, content);
      const mapping = mapSync(file);
      let events = 0;
      mapping.on('truncated', () => events++);
      const child = spawn('truncate', ['-s', String(keep), file], { stdio: 'ignore' });
      const exited = new Promise((resolve) => child.on('exit', resolve));
      // Read every byte from JS, pass after pass, until the child's truncation has happened; then once more.
      const buf = mapping.buffer;
      let truncatedSeen = false;
      let zeros = 0;
      for (let pass = 0; pass < 1000; pass++) {
        truncatedSeen = fs.statSync(file).size === keep;
        zeros = 0;
        for (let i = 0; i < size; i++) if (buf[i] === 0) zeros++;
        if (truncatedSeen) break;
      }
      await exited;
      expect(truncatedSeen, `round ${round}`).toBe(true);
      if (FALLBACK) {
        expect(sha256(buf)).toBe(sha256(content));
        expect(mapping.truncated).toBe(false);
      } else {
        expect(buf.subarray(0, keep).equals(content.subarray(0, keep)), `round ${round}`).toBe(true);
        expect(zeros).toBe(size - keep + content.subarray(0, keep).filter((b) => b === 0).length);
        expect(mapping.truncated).toBe(true);
        expect(await until(() => events > 0)).toBe(true);
        await new Promise((r) => setTimeout(r, 10));
        expect(events).toBe(1);
      }
      mapping.unmap();
    }
  }, 300_000);

  /** What readInto throws (undefined when it does not). */
  function readIntoError(mapping: Mapping, target: Buffer): (Error & { code?: string; bytes?: number }) | undefined {
    try {
      mapping.readInto(target);
    } catch (e) {
      return e as Error & { code?: string; bytes?: number };
    }
    return undefined;
  }

  it.skipIf(FALLBACK)('readInto copies what was valid, then throws ERR_MAPPING_TRUNCATED with the count', () => {
    const file = path.join(dir, 'read-into');
    const data = randomBytes(10 * 4096);
    fs.writeFileSync(file, data);
    const mapping = mapSync(file, { offset: 100 });
    execFileSync('truncate', ['-s', '5000', file]);
    const target = Buffer.alloc(mapping.length, 0xff);
    const err = readIntoError(mapping, target);
    expect(err?.code).toBe('ERR_MAPPING_TRUNCATED');
    expect(err?.bytes).toBe(5000 - 100);
    expect(target.subarray(0, 4900).equals(data.subarray(100, 5000))).toBe(true);
    expect(target.subarray(4900).every((b) => b === 0)).toBe(true);
    // What lies before the new end still reads without an error.
    expect(mapping.readInto(target, { offset: 0, length: 4900 })).toBe(4900);
    mapping.unmap();
  });

  it.skipIf(FALLBACK)('readInto of an unlinked file counts to the page: no fd is kept to ask the size', () => {
    const file = path.join(dir, 'read-into-unlinked');
    const data = randomBytes(10 * 4096);
    fs.writeFileSync(file, data);
    const mapping = mapSync(file, { offset: 100 });
    const fd = fs.openSync(file, 'r+');
    fs.unlinkSync(file);
    fs.ftruncateSync(fd, 5000);
    fs.closeSync(fd);
    const target = Buffer.alloc(mapping.length, 0xff);
    const err = readIntoError(mapping, target);
    expect(err?.code).toBe('ERR_MAPPING_TRUNCATED');
    expect(err?.bytes).toBe(2 * 4096 - 100);
    expect(target.subarray(0, 4900).equals(data.subarray(100, 5000))).toBe(true);
    expect(target.subarray(4900).every((b) => b === 0)).toBe(true);
    mapping.unmap();
  });

  it.skipIf(FALLBACK)('vmsplice of a truncated mapping is ERR_MAPPING_TRUNCATED, never a success', () => {
    const file = path.join(dir, 'vmsplice-me');
    fs.writeFileSync(file, randomBytes(MiB));
    const mapping = mapSync(file);
    fs.truncateSync(file, 1000);
    const pipe = createPipe({ size: MiB });
    expect(codeOf(() => vmspliceSync(pipe.writeFd, mapping.buffer.subarray(8192, 65536)))).toBe('ERR_MAPPING_TRUNCATED');
    expect(codeOf(() => vmspliceSync(pipe.writeFd, mapping.buffer.subarray(0, 65536)))).toBe('ERR_MAPPING_TRUNCATED');
    fs.closeSync(pipe.readFd);
    fs.closeSync(pipe.writeFd);
    mapping.unmap();
  });
});

describe('the guard chains SIGBUS that is not ours', () => {
  it.each(['none', 'map'])('kill(SIGBUS) still ends the process by SIGBUS (mapping: %s)', (mode) => {
    const child = spawnSync(process.execPath, [fixture('sigbus-kill.mjs'), mode], {
      env: process.env,
      encoding: 'utf8',
    });
    expect(child.status).toBe(null);
    expect(child.signal).toBe('SIGBUS');
  });

  it.skipIf(FALLBACK)("a store into a 'read' mapping stays private and never reaches the file", () => {
    const file = path.join(dir, 'read-only');
    fs.writeFileSync(file, 'original');
    const mapping = mapSync(file);
    mapping.buffer.write('CHANGED!');
    expect(mapping.buffer.toString()).toBe('CHANGED!');
    expect(fs.readFileSync(file, 'utf8')).toBe('original');
    mapping.unmap();
  });
});

// Writes by another process: a real child, opening the file for writing (which also breaks a read lease).
function childWrites(file: string, byte: number, length: number): Promise<number | null> {
  const script = 'const fs = require("node:fs"); const [f, b, n] = process.argv.slice(1);' +
    'const fd = fs.openSync(f, "r+"); fs.writeSync(fd, Buffer.alloc(Number(n), Number(b)), 0, Number(n), 0);';
  const child = spawn(process.execPath, ['-e', script, file, String(byte), String(length)], { stdio: 'inherit' });
  return new Promise((resolve) => child.on('exit', resolve));
}

describe("'read' mode: writes from JS stay private", () => {
  // The fallback's 'mapping' is a Buffer read whole, so the size that matters to a VMA only costs it time there.
  const written = FALLBACK ? 16 * MiB : GiB;
  const what = 'written into a read mapping: the process lives, one VMA, the file untouched (child process)';
  it(`${written / MiB} MiB ${what}`, () => {
    const file = path.join(dir, 'written-gib');
    const child = spawnSync(process.execPath, [fixture('write-read-mapping.mjs'), file, String(written)], {
      env: process.env,
      encoding: 'utf8',
      timeout: 170_000,
    });
    fs.rmSync(file, { force: true });
    expect(child.signal, child.stderr).toBe(null);
    expect(child.status, child.stderr).toBe(0);
    const result = JSON.parse(child.stdout);
    expect(result).toEqual({ pages: written / 4096, ones: written / 4096, maps: FALLBACK ? 0 : 1,
      fileZeroPages: result.sampled, sampled: written / (64 * 4096), fileSize: written });
  }, 180_000);

  it.skipIf(FALLBACK)("sees another process's writes to pages it has not written; a written page stays its own", async () => {
    const file = path.join(dir, 'shared-view');
    fs.writeFileSync(file, Buffer.alloc(3 * 4096, '.'));
    const mapping = mapSync(file);
    expect(mapping.buffer[4096]).toBe(0x2e); // page 1 faulted in before the other process writes
    mapping.buffer.write('mine', 0);
    expect(await childWrites(file, 0x59, 3 * 4096)).toBe(0);
    expect(mapping.buffer.subarray(0, 5).toString()).toBe('mine.');
    expect(mapping.buffer.subarray(4096).every((b) => b === 0x59)).toBe(true);
    expect(fs.readFileSync(file).every((b) => b === 0x59)).toBe(true);
    mapping.unmap();
  });

  it.skipIf(FALLBACK)("lock and populate fault pages in without copying them: another process's writes still show", async () => {
    const file = path.join(dir, 'locked-view');
    fs.writeFileSync(file, Buffer.alloc(16 * 4096, '.'));
    const mapping = mapSync(file, { lock: true, populate: true });
    mapping.unlock();
    mapping.lock();
    expect(await childWrites(file, 0x59, 16 * 4096)).toBe(0);
    expect(mapping.buffer.every((b) => b === 0x59)).toBe(true);
    mapping.unmap();
  });

  it.skipIf(FALLBACK)('a read lease still works on a read mapping written into: a writer revokes it', async () => {
    const file = path.join(dir, 'leased-view');
    fs.writeFileSync(file, Buffer.alloc(2 * 4096, '.'));
    const mapping = await map(file, { lease: 'required' });
    mapping.buffer.write('mine');
    expect(mapping.leased).toBe(true);
    const revoked = new Promise((resolve) => mapping.once('revoked', resolve));
    expect(await childWrites(file, 0x59, 2 * 4096)).toBe(0);
    await revoked;
    expect(mapping.revoked).toBe(true);
    expect(mapping.buffer.subarray(0, 5).toString()).toBe('mine.');
    expect(mapping.buffer[4096]).toBe(0x59);
    mapping.unmap();
  });
});

describe('unmap()', () => {
  it('lets the file go: buffer is empty, earlier views read zeros, the file leaves /proc/self/maps; idempotent', async () => {
    const file = path.join(dir, 'unmap-me');
    fs.writeFileSync(file, Buffer.alloc(3 * 4096, 0xa5));
    const mapping = await map(file, { offset: 10, length: 9000 });
    const whole = mapping.buffer;
    const sub = mapping.buffer.subarray(5, 50);
    expect(mapping.buffer.length).toBe(9000);
    if (!FALLBACK) expect(mapsLines(file)).toBeGreaterThan(0);
    mapping.unmap();
    expect(mapping.buffer.length).toBe(0);
    expect([whole.length, sub.length]).toEqual([9000, 45]);
    expect(whole.every((b) => b === 0)).toBe(true);
    whole.fill(7); // still writable memory: nothing reaches the file
    expect(fs.readFileSync(file).every((b) => b === 0xa5)).toBe(true);
    expect(mapping.closed).toBe(true);
    expect(mapsLines(file)).toBe(0);
    expect(() => mapping.unmap()).not.toThrow();
    expect(codeOf(() => mapping.sync())).toBe('ERR_MAPPING_CLOSED');
    expect(codeOf(() => mapping.readInto(Buffer.alloc(1)))).toBe('ERR_MAPPING_CLOSED');
  });

  it('unmaps at the end of a `using` block', () => {
    const file = path.join(dir, 'dispose-me');
    fs.writeFileSync(file, 'disposable');
    let seen: Mapping;
    {
      const mapping = mapSync(file);
      seen = mapping;
      mapping[Symbol.dispose]();
    }
    expect(seen.closed).toBe(true);
  });

  it('10,000 map/unmap cycles leave RSS, fds and the maps count flat', () => {
    const file = path.join(dir, 'cycle');
    fs.writeFileSync(file, randomBytes(64 * 1024));
    const fdCount = () => fs.readdirSync('/proc/self/fd').length;
    const mapsCount = () => fs.readFileSync('/proc/self/maps', 'utf8').split('\n').length;
    const cycle = (n: number) => {
      for (let i = 0; i < n; i++) {
        const m = mapSync(file, { offset: i % 5000 });
        if (m.buffer[0] === undefined) throw new Error('empty mapping');
        m.unmap();
      }
    };
    cycle(1000);
    const before = { rss: process.memoryUsage.rss(), fds: fdCount(), maps: mapsCount() };
    cycle(10_000);
    const after = { rss: process.memoryUsage.rss(), fds: fdCount(), maps: mapsCount() };
    console.log('map/unmap ×10,000:', { before, after });
    expect(after.fds).toBe(before.fds);
    expect(mapsLines(file)).toBe(0);
    // The JS heap may grow by a few hundred 256 KiB pages of garbage; a leaked mapping per cycle would be 10,000.
    expect(after.maps).toBeLessThan(before.maps + 1000);
    // Copies (fallback) are 64 KiB each: a leak would be 640 MiB; GC timing alone has shown up to 75 MiB.
    expect(after.rss - before.rss).toBeLessThan(200 * MiB);
  });

  it.each(['zlib', 'socket', 'fs'])('while %s still reads the Buffer: the reader gets the file or zeros, the process lives', (kind) => {
    const child = spawnSync(process.execPath, [fixture('unmap-in-flight.mjs'), kind, dir], {
      env: process.env,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(child.signal, child.stderr).toBe(null);
    expect(child.status, child.stderr).toBe(0);
    const result = JSON.parse(child.stdout);
    console.log('unmap() in flight:', result);
    expect(result).toMatchObject({ zeroCopy: !FALLBACK, length: 16 * MiB, foreign: 0, inFlight: true });
    expect(result.zeros).toBeGreaterThan(0); // the reader did read after unmap()
    if (kind === 'socket') expect(result.written).toBe('ok');
    if (kind === 'fs') expect(result.written).toBe(16 * MiB);
  });

  it('holds no fd once mapped, from a path or an fd', () => {
    const file = path.join(dir, 'no-fd');
    fs.writeFileSync(file, randomBytes(MiB));
    const fd = fs.openSync(file, 'r');
    const fds = fs.readdirSync('/proc/self/fd').length;
    const byPath = mapSync(file);
    const byFd = mapSync(fd);
    expect(fs.readdirSync('/proc/self/fd').length).toBe(fds);
    byPath.unmap();
    byFd.unmap();
    fs.closeSync(fd);
  });

  it("V8 counts a mapping's bytes as external memory (a fresh child, where no other garbage moves the count)", () => {
    const file = path.join(dir, 'counted');
    fs.writeFileSync(file, Buffer.alloc(64 * MiB, 1));
    const script = `import zerocopy from ${JSON.stringify(path.join(__dirname, '..', 'lib', 'index.js'))};
      const before = process.memoryUsage().external;
      const mapping = zerocopy.mapSync(${JSON.stringify(file)});
      process.stdout.write(String(process.memoryUsage().external - before));
      mapping.unmap();`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { env: process.env, encoding: 'utf8' });
    // The copy (fallback) is an ordinary Buffer, which V8 counts by itself.
    expect(Number(out)).toBeGreaterThanOrEqual(64 * MiB);
  });

  // A path is opened off the JS thread; an fd is fstat'ed there too, so that a loop of `await map(fd)` gives the
  // event loop the turns in which dropped mappings' finalizers run. 30,000 of those would leave 30,000 lines in
  // /proc/self/maps and, with a kept fd each, pass the ulimit 30 times.
  it.each([['a path', 'path', 30_000], ['an fd', 'fd', 30_000]] as const)(
    'map() of %s without unmap(), many times under ulimit -n 1024: fds flat, /proc/self/maps bounded',
    (_, kind, count) => {
      const file = path.join(dir, `dropped-${kind}`);
      fs.writeFileSync(file, Buffer.alloc(64 * 1024, 1));
      const child = spawnSync('sh', ['-c', 'ulimit -n 1024; exec "$0" "$@"', process.execPath,
        fixture('dropped-mappings.mjs'), file, String(count), kind], { env: process.env, encoding: 'utf8', timeout: 170_000 });
      expect(child.signal, child.stderr).toBe(null);
      expect(child.status, child.stderr).toBe(0);
      const result = JSON.parse(child.stdout);
      console.log(`${count} dropped mappings of ${kind}:`, result);
      expect(result).toMatchObject({ done: count, error: null });
      expect(result.peak.fds).toBeLessThanOrEqual(result.start.fds + 4);
      // Each live mapping is a line; 100,000 of them would pass vm.max_map_count (65,530).
      expect(result.peak.maps).toBeLessThan(result.start.maps + 10_000);
    }, 180_000);

  it('unmap() after the caller transferred the buffer away (postMessage) neither throws nor crashes', () => {
    const file = path.join(dir, 'transferred');
    fs.writeFileSync(file, Buffer.alloc(8192, 3));
    const mapping = mapSync(file);
    const { port1, port2 } = new MessageChannel();
    const arrayBuffer = mapping.buffer.buffer as ArrayBuffer;
    try {
      port1.postMessage(arrayBuffer, [arrayBuffer]); // detaches the fallback's copy
    } catch {
      // natively the mapping's external buffer cannot be transferred
    }
    expect(() => mapping.unmap()).not.toThrow();
    port1.close();
    port2.close();
  });

  it('a mapping dropped without unmap() is unmapped by its finalizer', () => {
    const out = execFileSync(process.execPath, ['--expose-gc', fixture('map-gc.mjs')], {
      env: process.env,
      encoding: 'utf8',
    });
    const { before, after } = JSON.parse(out);
    expect(before).toBe(FALLBACK ? 0 : 1000);
    expect(after).toBe(0);
  });
});

describe('contents', () => {
  // The fallback reads the file whole: its reads past 1 GiB are the sparse case's below.
  const hashed = FALLBACK ? 64 * MiB : GiB;
  it(`sha256 of a ${hashed / MiB} MiB file through a mapping equals sha256sum`, () => {
    const file = path.join(dir, 'one-gib');
    const block = randomBytes(MiB);
    const fd = fs.openSync(file, 'w');
    for (let i = 0; i < hashed / MiB; i++) {
      block.writeUInt32LE(i, 0);
      fs.writeSync(fd, block);
    }
    fs.closeSync(fd);
    const expected = execFileSync('sha256sum', [file], { encoding: 'utf8' }).split(' ')[0];
    const mapping = mapSync(file, { advice: 'sequential' });
    expect(mapping.length).toBe(hashed);
    expect(createHash('sha256').update(mapping.buffer).digest('hex')).toBe(expected);
    mapping.unmap();
    fs.rmSync(file);
  }, 120_000);

  it("'write' mode changes reach the file after sync(), 'private' changes never do", async () => {
    const file = path.join(dir, 'writable');
    fs.writeFileSync(file, Buffer.alloc(3 * 4096, '.'));
    const w = await map(file, { mode: 'write', offset: 4096 + 7, length: 20 });
    w.buffer.write('written through mmap');
    w.sync();
    expect(fs.readFileSync(file).subarray(4096 + 7, 4096 + 27).toString()).toBe('written through mmap');
    w.unmap();
    const p = mapSync(file, { mode: 'private' });
    p.buffer.write('private');
    p.sync();
    p.unmap();
    expect(fs.readFileSync(file).subarray(0, 7).toString()).toBe('.......');
  });

  it('maps through an fd and a FileHandle, which stay the caller\'s', async () => {
    const file = path.join(dir, 'by-fd');
    fs.writeFileSync(file, 'mapped by fd and by handle');
    const fd = fs.openSync(file, 'r');
    const byFd = mapSync(fd, { offset: 10, length: 2 });
    expect(byFd.buffer.toString()).toBe('fd');
    byFd.unmap();
    expect(fs.fstatSync(fd).size).toBe(26);
    fs.closeSync(fd);
    const handle = await fs.promises.open(file, 'r');
    const byHandle = await map(handle, { offset: 20n });
    expect(byHandle.buffer.toString()).toBe('handle');
    expect(byHandle.offset).toBe(20n);
    byHandle.unmap();
    expect((await handle.stat()).size).toBe(26);
    await handle.close();
  });

  it('advise, lock, unlock and populate work on a mapping', () => {
    const file = path.join(dir, 'advise');
    fs.writeFileSync(file, randomBytes(16 * 4096));
    const m = mapSync(file, { populate: true, lock: true, advice: 'willneed' });
    for (const advice of ['normal', 'sequential', 'random', 'willneed', 'hugepage'] as const) {
      m.advise(advice, { offset: 5000, length: 3000 });
    }
    m.unlock();
    m.advise('dontneed'); // EINVAL on locked pages: the kernel will not drop what is locked
    m.lock();
    expect(sha256(m.buffer)).toBe(sha256(fs.readFileSync(file)));
    m.unmap();
  });
});

describe('large files', () => {
  it('maps more than 2 GiB at an offset beyond 4 GiB in a sparse file', () => {
    const file = path.join(dir, 'sparse');
    const fd = fs.openSync(file, 'w');
    const marker = Buffer.from('the end of a sparse 6 GiB file');
    const offset = 4 * GiB + 12345;
    const length = 2 * GiB + 64 * 1024; // past 2^31 - 1, the most one read() takes
    fs.writeSync(fd, marker, 0, marker.length, offset + length - marker.length);
    fs.closeSync(fd);
    const m = mapSync(file, { offset: BigInt(offset) });
    expect(m.length).toBe(length);
    expect(m.buffer.subarray(length - marker.length).equals(marker)).toBe(true);
    expect(m.buffer[0]).toBe(0);
    m.unmap();
  }, 60_000);

  // Node 22 and later allow Buffers up to 2^53-1 bytes: no file here is larger than one Buffer can hold.
  it.runIf(bufferConstants.MAX_LENGTH < 5 * GiB)('a range longer than one Buffer can hold is a RangeError that says to map a window', () => {
    const file = path.join(dir, 'huge-sparse');
    const fd = fs.openSync(file, 'w');
    fs.ftruncateSync(fd, 5 * GiB);
    fs.closeSync(fd);
    let err: (RangeError & { code?: string }) | undefined;
    try {
      mapSync(file);
    } catch (e) {
      err = e as typeof err;
    }
    expect(err).toBeInstanceOf(RangeError);
    expect(err?.code).toBe('ERR_OUT_OF_RANGE');
    expect(err?.message).toContain('map a window');
  });
});

describe('worker threads', () => {
  it('the guard serves a worker; terminating a worker with live mappings is clean', async () => {
    const file = path.join(dir, 'worker');
    fs.writeFileSync(file, Buffer.alloc(16 * 4096, 7));
    const worker = new Worker(fixture('map-worker.mjs'), { workerData: { file }, env: process.env });
    const next = () => new Promise<unknown>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    expect(await next()).toBe('mapped');
    fs.truncateSync(file, 4096);
    worker.postMessage('read');
    const report = (await next()) as { nonZero: number; truncated: boolean; events: number };
    expect(report).toEqual(FALLBACK
      ? { nonZero: 16 * 4096, truncated: false, events: 0 }
      : { nonZero: 4096, truncated: true, events: 1 });
    // A second worker keeps its mapping while it is terminated.
    const second = new Worker(fixture('map-worker.mjs'), { workerData: { file }, env: process.env });
    await new Promise((resolve) => second.once('message', resolve));
    expect(await second.terminate()).toBe(1);
    expect(await worker.terminate()).toBe(1);
  });
});

describe('bad input', () => {
  const file = path.join(dir, 'plain');
  fs.writeFileSync(file, 'some bytes');
  const empty = path.join(dir, 'empty');
  fs.writeFileSync(empty, '');
  const fifo = path.join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);

  it.each([
    ['a directory', () => mapSync(dir), 'ENODEV'],
    ['a FIFO path', () => mapSync(fifo), 'ENODEV'],
    ['a missing file', () => mapSync(path.join(dir, 'missing')), 'ENOENT'],
    ['an empty file with no length', () => mapSync(empty), 'EINVAL'],
    ['an offset past the end', () => mapSync(file, { offset: 11 }), 'ERR_OUT_OF_RANGE'],
    ['a length past the end', () => mapSync(file, { length: 11 }), 'ERR_OUT_OF_RANGE'],
    ['a zero length', () => mapSync(file, { length: 0 }), 'ERR_OUT_OF_RANGE'],
    ['a negative offset', () => mapSync(file, { offset: -1 }), 'ERR_OUT_OF_RANGE'],
    ['a fractional length', () => mapSync(file, { length: 1.5 }), 'ERR_OUT_OF_RANGE'],
    ['an unknown mode', () => mapSync(file, { mode: 'rw' as never }), 'ERR_INVALID_ARG_VALUE'],
    ['an unknown advice', () => mapSync(file, { advice: 'soon' as never }), 'ERR_INVALID_ARG_VALUE'],
    ['a target of the wrong type', () => mapSync({} as never), 'ERR_INVALID_ARG_TYPE'],
    ['a negative fd', () => mapSync(-1), 'ERR_OUT_OF_RANGE'],
    ['a closed fd', () => mapSync(987654), 'EBADF'],
  ])('%s', (_name, call, code) => {
    expect(codeOf(call)).toBe(code);
  });

  it("'write' on a read-only fd is EACCES", () => {
    const fd = fs.openSync(file, 'r');
    expect(codeOf(() => mapSync(fd, { mode: 'write' }))).toBe('EACCES');
    fs.closeSync(fd);
  });

  it('a pipe fd is ENODEV', () => {
    const pipe = createPipe();
    expect(codeOf(() => mapSync(pipe.readFd))).toBe('ENODEV');
    fs.closeSync(pipe.readFd);
    fs.closeSync(pipe.writeFd);
  });

  it('a bad range on a mapping is ERR_OUT_OF_RANGE', () => {
    const m = mapSync(file);
    expect(codeOf(() => m.readInto(Buffer.alloc(4), { length: 5 }))).toBe('ERR_OUT_OF_RANGE');
    expect(codeOf(() => m.readInto(Buffer.alloc(40), { offset: 11 }))).toBe('ERR_OUT_OF_RANGE');
    expect(codeOf(() => m.advise('random', { length: 11 }))).toBe('ERR_OUT_OF_RANGE');
    expect(codeOf(() => m.readInto('x' as never))).toBe('ERR_INVALID_ARG_TYPE');
    expect(m.readInto(Buffer.alloc(4))).toBe(4);
    m.unmap();
  });
});
