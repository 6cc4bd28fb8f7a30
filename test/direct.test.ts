// Direct I/O and page-cache residency on real files: ext4 (this machine's /tmp) and tmpfs (/dev/shm), bytes
// checked by sha256, residency before and after, exact codes, aborts, and the edges of a process's life in child
// processes. Under the forced fallback the same calls do buffered I/O with direct: false, reason 'no-binding'.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { binding } from '../src/binding';
import { DirectFile, alignedBuffer, evict, openDirect, openDirectSync, prefetch, residency } from '../src/index';
import { FALLBACK, sha256, tempDir } from './helpers';

const dir = tempDir();
const shmDir = fs.mkdtempSync('/dev/shm/zerocopy-direct-');
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(shmDir, { recursive: true, force: true });
});

const MiB = 2 ** 20;
const EXT4_MAGIC = 0xef53;
const TMPFS_MAGIC = 0x01021994;
const fixture = (name: string) => path.join(__dirname, 'fixtures', name);

async function rejection(p: Promise<unknown>): Promise<Record<string, unknown>> {
  try {
    await p;
  } catch (err) {
    return err as Record<string, unknown>;
  }
  throw new Error('expected a rejection');
}

function thrown(fn: () => unknown): Record<string, unknown> {
  try {
    fn();
  } catch (err) {
    return err as Record<string, unknown>;
  }
  throw new Error('expected a throw');
}

/** Bytes read by read-type syscalls so far, per thread name (/proc/self/task/<tid>/io rchar). */
function rcharByThread(): Map<string, number> {
  const by = new Map<string, number>();
  for (const tid of fs.readdirSync('/proc/self/task')) {
    try {
      const name = fs.readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
      const rchar = Number(/rchar: (\d+)/.exec(fs.readFileSync(`/proc/self/task/${tid}/io`, 'utf8'))![1]);
      by.set(name, (by.get(name) ?? 0) + rchar);
    } catch {
      // the thread ended
    }
  }
  return by;
}

async function until(check: () => boolean, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!check() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  return check();
}

describe('alignedBuffer', () => {
  it('is zero-filled, of the asked size, and aligned (checked natively by address)', () => {
    for (const alignment of [8, 512, 4096, 65536, 2 * MiB]) {
      const b = alignedBuffer(3 * MiB + 512, alignment);
      expect(b.length).toBe(3 * MiB + 512);
      expect(b.every((x) => x === 0)).toBe(true);
      if (binding) expect(binding.misalignment(b, alignment)).toBe(0);
    }
    expect(alignedBuffer(0).length).toBe(0);
  });

  it('refuses an alignment that is not a power of two with ERR_OUT_OF_RANGE', () => {
    for (const bad of [0, 3, 4, 1000, 2 ** 31]) expect(thrown(() => alignedBuffer(4096, bad)).code).toBe('ERR_OUT_OF_RANGE');
    expect(thrown(() => alignedBuffer(-1)).code).toBe('ERR_OUT_OF_RANGE');
    expect(thrown(() => alignedBuffer('1' as unknown as number)).code).toBe('ERR_INVALID_ARG_TYPE');
  });

  it('is freed when collected: 1 GiB dropped leaves the resident set near where it was (child, --expose-gc)', () => {
    const child = spawnSync(process.execPath, ['--expose-gc', fixture('direct-teardown.mjs'), 'gc'], {
      encoding: 'utf8', timeout: 60_000,
    });
    expect(child.signal).toBeNull();
    expect(child.status).toBe(0);
    const { before, peak, after } = JSON.parse(child.stdout);
    expect(peak - before).toBeGreaterThanOrEqual(FALLBACK ? 0 : 64 * MiB); // the measure sees them while they live
    expect(after - before).toBeLessThan(256 * MiB);
  });
});

describe.skipIf(FALLBACK)('direct I/O on ext4', () => {
  it('the test directory is on ext4, and direct I/O is in effect there with the statx alignment', () => {
    expect(fs.statfsSync(dir).type).toBe(EXT4_MAGIC);
    const f = openDirectSync(path.join(dir, 'probe'), 'w+');
    expect(f.direct).toBe(true);
    expect(f.reason).toBeNull();
    // ext4 on a virtio disk with 512-byte logical blocks: what statx(STATX_DIOALIGN) reports here.
    expect(f.alignment).toBe(512);
    expect(f.bufferAlignment).toBe(512);
    void f.close();
  });

  it('bytes written directly read back exactly, and neither leaves them in the page cache', async () => {
    const data = randomBytes(24 * MiB);
    const file = path.join(dir, 'roundtrip');
    await using f = await openDirect(file, 'w+');
    const out = alignedBuffer(data.length);
    data.copy(out);
    expect(await f.write(out, 0)).toBe(data.length);
    await f.sync();
    expect(residency(f).cached, 'after the direct write').toBeLessThan(MiB); // "almost nothing": it went to the device
    const back = alignedBuffer(data.length);
    expect(await f.read(back, 0)).toBe(data.length);
    expect(sha256(back)).toBe(sha256(data));
    const after = residency(file);
    expect(after.size).toBe(data.length);
    expect(after.cached, 'after the direct read').toBeLessThan(MiB);
    expect(after.method).toBe('cachestat');
    // A buffered read caches all of it; evict drops it again.
    expect(sha256(fs.readFileSync(file))).toBe(sha256(data));
    expect(residency(file).cached, 'after a buffered read').toBe(data.length);
    expect(await evict(file)).toBe(true);
    expect(residency(file).cached, 'after evict').toBe(0);
  });

  it('views of other memory go through a block of the call\'s own: copied in at the call, copied out at completion', async () => {
    const file = path.join(dir, 'bounced');
    await using f = await openDirect(file, 'w+');
    /** A view at an aligned address inside an ordinary ArrayBuffer (not alignedBuffer memory). */
    const plain = (length: number) => {
      const memory = new ArrayBuffer(length + 4096);
      const skip = (4096 - binding!.misalignment(new Uint8Array(memory), 4096)) % 4096;
      return new Uint8Array(memory, skip, length);
    };
    const data = randomBytes(3 * MiB);
    const out = [plain(MiB), plain(2 * MiB)];
    out[0].set(data.subarray(0, MiB));
    out[1].set(data.subarray(MiB));
    const written = f.writev(out, 0);
    out[0].fill(0); // after the call: the write took its copy at the call
    expect(await written).toBe(data.length);
    const back = [plain(2 * MiB), plain(MiB)];
    expect(await f.readv(back, 0)).toBe(data.length);
    expect(sha256(Buffer.concat(back))).toBe(sha256(data));
    // A view whose memory went elsewhere meanwhile gets nothing; the others get their bytes.
    const kept = plain(MiB);
    const gone = plain(MiB);
    const read = f.readv([gone, kept], 0);
    structuredClone(gone.buffer, { transfer: [gone.buffer] });
    expect(await read).toBe(2 * MiB);
    expect(gone.byteLength).toBe(0);
    expect(sha256(kept)).toBe(sha256(data.subarray(MiB, 2 * MiB)));
  });

  it('readv and writev move several aligned buffers in order; sync variants too', async () => {
    const parts = [randomBytes(MiB), randomBytes(4096), randomBytes(3 * MiB)];
    const file = path.join(dir, 'vectors');
    const f = openDirectSync(file, 'w+');
    const bufs = parts.map((p) => {
      const b = alignedBuffer(p.length);
      p.copy(b);
      return b;
    });
    expect(await f.writev(bufs, 4096)).toBe(4 * MiB + 4096);
    expect(f.writeSync(bufs[1], 0)).toBe(4096);
    const whole = Buffer.concat([parts[1], ...parts]);
    const back = [alignedBuffer(4096), alignedBuffer(2 * MiB), alignedBuffer(2 * MiB + 4096)];
    expect(await f.readv(back, 0)).toBe(whole.length);
    expect(sha256(Buffer.concat(back))).toBe(sha256(whole));
    const one = alignedBuffer(4096);
    expect(f.readSync(one, 4096)).toBe(4096);
    expect(sha256(one)).toBe(sha256(parts[0].subarray(0, 4096)));
    expect(sha256(fs.readFileSync(file))).toBe(sha256(whole));
    await f.close();
  });

  it('a read past the end returns what is there (the file need not end on the alignment)', async () => {
    const data = randomBytes(MiB + 100);
    const file = path.join(dir, 'tail');
    fs.writeFileSync(file, data);
    await using f = await openDirect(file);
    const b = alignedBuffer(2 * MiB);
    expect(await f.read(b, MiB)).toBe(100);
    expect(sha256(b.subarray(0, 100))).toBe(sha256(data.subarray(MiB)));
    expect(await f.read(b, 2 * MiB)).toBe(0);
  });

  it('misaligned buffers, positions and lengths fail with ERR_OUT_OF_RANGE naming the alignment, before any syscall', async () => {
    const file = path.join(dir, 'misaligned');
    const data = randomBytes(64 * 1024);
    fs.writeFileSync(file, data);
    await using f = await openDirect(file, 'r+');
    const aligned = alignedBuffer(8192);
    const bigAligned = alignedBuffer(8192 + 512);
    const cases: Array<[string, () => Promise<unknown>]> = [
      ['position', () => f.read(aligned, 100)],
      ['buffer.byteLength', () => f.read(aligned.subarray(0, 1000), 0)],
      ['buffer address', () => f.write(bigAligned.subarray(8, 8 + 512), 0)],
      ['buffers[1].byteLength', () => f.readv([aligned.subarray(0, 512), aligned.subarray(512, 600)], 0)],
      ['buffers[0] address', () => f.writev([bigAligned.subarray(16, 16 + 4096)], 0)],
    ];
    for (const [name, call] of cases) {
      const err = await rejection(call());
      expect(err.code).toBe('ERR_OUT_OF_RANGE');
      expect(err.message).toContain(`"${name}"`);
      expect(err.message).toContain(`multiple of ${f.alignment}`);
    }
    expect(thrown(() => f.writeSync(Buffer.alloc(4096 + 512).subarray(1, 513), 0)).code).toBe('ERR_OUT_OF_RANGE');
    expect(thrown(() => f.readSync(aligned, 7)).code).toBe('ERR_OUT_OF_RANGE');
    expect(sha256(fs.readFileSync(file))).toBe(sha256(data)); // no write reached the file
  });

  it('a caller\'s fd or FileHandle gets a description of its own: O_DIRECT never lands on the caller\'s', async () => {
    const file = path.join(dir, 'by-fd');
    const data = randomBytes(MiB);
    fs.writeFileSync(file, data);
    const flagsOf = (fd: number) => parseInt(/flags:\s+(\d+)/.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1], 8);
    const O_DIRECT = fs.constants.O_DIRECT;
    const fd = fs.openSync(file, 'r');
    const handle = await fs.promises.open(file, 'r');
    for (const target of [fd, handle]) {
      const f = await openDirect(target);
      expect(f.direct).toBe(true);
      expect(f.fd).not.toBe(typeof target === 'number' ? target : target.fd);
      expect(flagsOf(f.fd) & O_DIRECT).toBe(O_DIRECT);
      expect(flagsOf(typeof target === 'number' ? target : target.fd) & O_DIRECT).toBe(0);
      const b = alignedBuffer(MiB);
      expect(await f.read(b, 0)).toBe(MiB);
      expect(sha256(b)).toBe(sha256(data));
      await f.close();
    }
    // The caller's fd is still open and its own.
    expect(fs.fstatSync(fd).size).toBe(MiB);
    fs.closeSync(fd);
    await handle.close();
    expect(thrown(() => openDirectSync(handle)).code).toBe('EBADF');
  });

  it('reads run on the engine threads: neither the JS thread nor libuv\'s pool issues them', async () => {
    const file = path.join(dir, 'threads');
    fs.writeFileSync(file, randomBytes(32 * MiB));
    await using f = await openDirect(file);
    const b = alignedBuffer(32 * MiB);
    await f.read(b, 0, {}); // the engine threads exist from here on
    const before = rcharByThread();
    for (let i = 0; i < 4; i++) await f.read(b, 0);
    const after = rcharByThread();
    const grew = (name: string) => (after.get(name) ?? 0) - (before.get(name) ?? 0);
    expect(grew('zc-engine')).toBeGreaterThanOrEqual(4 * 32 * MiB);
    // Everything else (the JS thread, libuv's workers, V8's: all named "node" here) read far less.
    expect(grew('node')).toBeLessThan(MiB);
  });

  it('residency of a range, dirty pages, and prefetch warming a range', async () => {
    const file = path.join(dir, 'ranges');
    const data = randomBytes(8 * MiB);
    fs.writeFileSync(file, data);
    const dirty = residency(file);
    expect(dirty.cached).toBe(data.length);
    expect((dirty.dirty ?? 0) + (dirty.writeback ?? 0)).toBeGreaterThan(0);
    expect(await evict(file)).toBe(true); // writes the dirty pages back first, else they would stay
    expect(residency(file)).toEqual({ size: data.length, cached: 0, dirty: 0, writeback: 0, method: 'cachestat' });
    const fd = fs.openSync(file, 'r');
    fs.readSync(fd, Buffer.alloc(2 * MiB), 0, 2 * MiB, 2 * MiB);
    expect(residency(fd, { offset: 2 * MiB, length: 2 * MiB }).cached).toBe(2 * MiB);
    expect(residency(fd, { offset: 4 * MiB }).cached).toBe(0);
    expect(residency(fd, { offset: 7 * MiB, length: 10 * MiB }).size).toBe(MiB);
    expect(prefetch(fd, { offset: 4 * MiB, length: 4 * MiB })).toBe(true);
    expect(await until(() => residency(fd, { offset: 4 * MiB }).cached === 4 * MiB)).toBe(true);
    fs.closeSync(fd);
  });

  it.skipIf(FALLBACK)('evict writes dirty pages back off the JS thread: the event loop turns while it waits', async () => {
    const file = path.join(dir, 'dirty-evict');
    fs.writeFileSync(file, randomBytes(128 * MiB)); // dirty until written back: the device decides how long
    let turns = 0;
    let waiting = true;
    const turn = () => {
      turns++;
      if (waiting) setImmediate(turn);
    };
    const evicted = evict(file);
    setImmediate(turn);
    expect(await evicted).toBe(true);
    waiting = false;
    expect(turns).toBeGreaterThan(0); // a synchronous evict returned before the loop could turn once
    expect(residency(file).cached).toBe(0);
  });

  it('a range of length 0 is nothing, for evict and prefetch as for residency (the kernel\'s 0 means "to the end")', async () => {
    const file = path.join(dir, 'zero-length');
    fs.writeFileSync(file, randomBytes(4 * MiB));
    expect(residency(file, { length: 0 }).size).toBe(0);
    expect(await evict(file, { offset: 0, length: 0 })).toBe(true);
    expect(residency(file).cached).toBe(4 * MiB); // written just now: all cached, nothing dropped
    await evict(file);
    expect(prefetch(file, { offset: 0, length: 0 })).toBe(true);
    await new Promise((r) => setTimeout(r, 200)); // time for a readahead that must not have been asked for
    expect(residency(file).cached).toBe(0);
  });

  it('an abort stops a long direct read between chunks with AbortError and the bytes read so far', async () => {
    const file = path.join(dir, 'long');
    fs.writeFileSync(file, '');
    fs.truncateSync(file, 512 * MiB);
    await using f = await openDirect(file);
    const b = alignedBuffer(512 * MiB);
    const ac = new AbortController();
    const started = performance.now();
    const read = f.read(b, 0, { signal: ac.signal });
    ac.abort();
    const err = await rejection(read);
    const took = performance.now() - started;
    expect(err.code).toBe('ABORT_ERR');
    expect(err.name).toBe('AbortError');
    expect(err.bytes).toBeLessThan(512 * MiB);
    expect((err.bytes as number) % (8 * MiB)).toBe(0);
    expect(took).toBeLessThan(5000); // did not run to the end (the real figure is in the README)
    // An already-aborted signal rejects before anything starts.
    const early = await rejection(f.read(b, 0, { signal: AbortSignal.abort() }));
    expect(early.code).toBe('ABORT_ERR');
    expect(early.bytes).toBe(0);
    // The file is still usable.
    expect(await f.read(b.subarray(0, MiB), 0)).toBe(MiB);
  });
});

describe('a failure after some bytes moved', () => {
  it('rejects (or throws) with the error and the bytes moved before it: EFBIG past `ulimit -f` (child)', () => {
    const file = path.join(dir, 'limited');
    const script = 'ulimit -f 4096; exec "$0" "$@"'; // blocks of 512 bytes (dash) or 1 KiB (bash): the child reports the limit
    const child = spawnSync('sh', ['-c', script, process.execPath, fixture('direct-teardown.mjs'), 'efbig', file,
      String(8 * MiB)], { encoding: 'utf8', timeout: 60_000 });
    expect(child.signal).toBeNull();
    expect(child.status).toBe(0);
    const { limit, ...rest } = JSON.parse(child.stdout);
    expect([2 * MiB, 4 * MiB]).toContain(limit);
    const failed = { code: 'EFBIG', syscall: 'pwritev', bytes: limit };
    expect(rest).toEqual({ direct: !FALLBACK, async: failed, sync: failed });
  });
});

describe('a closed DirectFile', () => {
  it('answers EBADF naming the call, for every call', async () => {
    const file = path.join(dir, 'closed');
    fs.writeFileSync(file, Buffer.alloc(8192, 1));
    const f = await openDirect(file, 'r+');
    await f.close();
    await f.close(); // a second close does nothing
    expect(f.closed).toBe(true);
    const b = alignedBuffer(4096);
    for (const [call, syscall] of [
      [() => f.read(b, 0), 'preadv'],
      [() => f.write(b, 0), 'pwritev'],
      [() => f.readv([b], 0), 'preadv'],
      [() => f.writev([b], 0), 'pwritev'],
      [() => f.sync(), 'fdatasync'],
    ] as Array<[() => Promise<unknown>, string]>) {
      const err = await rejection(call());
      expect(err.code).toBe('EBADF');
      expect(err.syscall).toBe(syscall);
    }
    expect(thrown(() => f.readSync(b, 0)).syscall).toBe('preadv');
    expect(thrown(() => f.writeSync(b, 0)).syscall).toBe('pwritev');
    expect(thrown(() => residency(f)).code).toBe('EBADF');
    expect(sha256(fs.readFileSync(file))).toBe(sha256(Buffer.alloc(8192, 1)));
  });
});

describe('tmpfs (/dev/shm) and filesystems that refuse O_DIRECT', () => {
  it('tmpfs: buffered with a reason (its page cache is its storage), exact bytes, any alignment', async () => {
    expect(fs.statfsSync(shmDir).type).toBe(TMPFS_MAGIC);
    const file = path.join(shmDir, 'data');
    const data = randomBytes(5 * MiB + 3);
    await using f = await openDirect(file, 'w+');
    expect(f.direct).toBe(false);
    expect(f.reason).toBe(FALLBACK ? 'no-binding' : 'tmpfs');
    expect(f.alignment).toBe(1);
    expect(await f.write(data, 0)).toBe(data.length); // an ordinary Buffer, odd length
    await f.sync();
    const back = Buffer.alloc(data.length + 10);
    expect(await f.read(back.subarray(7), 0)).toBe(data.length);
    expect(sha256(back.subarray(7, 7 + data.length))).toBe(sha256(data));
    expect(f.readSync(back.subarray(0, 3), 5 * MiB)).toBe(3);
    expect(sha256(back.subarray(0, 3))).toBe(sha256(data.subarray(5 * MiB)));
    const r = residency(file);
    expect(r.size).toBe(data.length);
    expect(r.cached).toBe(FALLBACK ? null : data.length); // a tmpfs file lives in the page cache
  });

  it.skipIf(FALLBACK)('a filesystem that answers O_DIRECT with EINVAL (procfs): buffered, reason "refused", same bytes', async () => {
    const f = await openDirect('/proc/self/cmdline');
    expect(f.direct).toBe(false);
    expect(f.reason).toBe('refused');
    const b = Buffer.alloc(64 * 1024);
    const n = f.readSync(b, 0);
    expect(sha256(b.subarray(0, n))).toBe(sha256(fs.readFileSync('/proc/self/cmdline')));
    expect(await f.read(b, 0)).toBe(n);
    await f.close();
  });
});

describe.skipIf(!FALLBACK)('without the binding', () => {
  it('buffered I/O with direct: false and reason "no-binding"; residency cannot tell', async () => {
    const file = path.join(dir, 'fallback');
    const data = randomBytes(3 * MiB + 1);
    await using f = await openDirect(file, 'w+');
    expect([f.direct, f.reason, f.alignment, f.bufferAlignment]).toEqual([false, 'no-binding', 1, 1]);
    expect(await f.writev([data.subarray(0, MiB), data.subarray(MiB)], 0)).toBe(data.length);
    const back = Buffer.alloc(data.length);
    expect(await f.read(back, 0)).toBe(data.length);
    expect(sha256(back)).toBe(sha256(data));
    expect(residency(file)).toEqual({ size: data.length, cached: null, dirty: null, writeback: null, method: null,
      reason: 'no-binding' });
    expect(await evict(file)).toBe(false);
    expect(prefetch(file)).toBe(false);
  });
});

describe('a path with a NUL byte', () => {
  it('is ERR_INVALID_ARG_VALUE as fs.openSync gives, for every mode and call, and touches no file', async () => {
    const file = path.join(dir, 'nul-victim');
    fs.writeFileSync(file, 'keep me');
    const bad = `${file}\0.bak`;
    const expected = thrown(() => fs.openSync(bad, 'w'));
    for (const flags of ['r', 'w', 'w+', 'wx'] as const) {
      const err = thrown(() => openDirectSync(bad, flags));
      expect([err.code, err.message]).toEqual([expected.code, expected.message]);
      expect((await rejection(openDirect(bad, flags))).code).toBe('ERR_INVALID_ARG_VALUE');
    }
    for (const call of [residency, prefetch]) {
      expect([thrown(() => call(bad)).code, thrown(() => call(bad)).message]).toEqual([expected.code, expected.message]);
    }
    const evicting = await rejection(evict(bad));
    expect([evicting.code, evicting.message]).toEqual([expected.code, expected.message]);
    expect(fs.readFileSync(file, 'utf8')).toBe('keep me');
  });
});

describe('what direct I/O takes: regular files and block devices', () => {
  it('refuses character devices, FIFOs and sockets with ESPIPE before any read, in every mode, paths and fds', async () => {
    const fifo = path.join(dir, 'kind-fifo');
    spawnSync('mkfifo', [fifo]);
    const socketPath = path.join(dir, 'kind-socket');
    const server = net.createServer().listen(socketPath);
    await new Promise((r) => server.once('listening', r));
    try {
      const cases: [string, 'r' | 'w' | 'r+'][] = [['/dev/null', 'r'], ['/dev/zero', 'r'], ['/dev/null', 'w'],
        [fifo, 'r'], [fifo, 'w'], [socketPath, 'r'], [socketPath, 'w']];
      if (fs.existsSync('/dev/kmsg')) cases.push(['/dev/kmsg', 'r']);
      for (const [target, flags] of cases) {
        const err = await rejection(openDirect(target, flags));
        expect([target, flags, err.code, err.syscall]).toEqual([target, flags, 'ESPIPE', 'open']);
      }
      const devZero = fs.openSync('/dev/zero', 'r');
      try {
        expect(thrown(() => openDirectSync(devZero)).code).toBe('ESPIPE');
      } finally {
        fs.closeSync(devZero);
      }
    } finally {
      server.close();
    }
  });
});

describe('the fds of DirectFiles (child processes)', () => {
  const file = path.join(dir, 'fds');
  fs.writeFileSync(file, randomBytes(4096));
  const run = (mode: string) => spawnSync(process.execPath, ['--expose-gc', fixture('direct-fds.mjs'), mode, file], {
    encoding: 'utf8', timeout: 60_000,
  });

  it('a DirectFile dropped without close() closes its fd when collected, with a warning', () => {
    const child = run('dropped');
    expect(child.signal).toBeNull();
    expect(child.status).toBe(0);
    expect(JSON.parse(child.stdout)).toEqual({ opened: 500, left: 0 });
    expect(child.stderr).toMatch(/Closing file descriptor \d+ on garbage collection/);
  });

  it('close() in a worker closes the fd as it was opened: Node\'s fd tracking has nothing to warn about', () => {
    const child = run('worker');
    expect(child.signal).toBeNull();
    expect(child.status).toBe(0);
    expect(JSON.parse(child.stdout)).toEqual({ message: 'closed' });
    expect(child.stderr).not.toMatch(/closed but not opened/);
  });
});

describe('append modes', () => {
  it('are ERR_INVALID_ARG_VALUE, as flags or as a caller\'s O_APPEND fd or FileHandle: writes are positional', async () => {
    const file = path.join(dir, 'append');
    fs.writeFileSync(file, Buffer.alloc(8192, 1));
    for (const flags of ['a', 'a+'] as unknown as 'r'[]) {
      const err = thrown(() => openDirectSync(file, flags));
      expect([err.code, err.message]).toEqual(['ERR_INVALID_ARG_VALUE',
        `The argument 'flags' is an append mode: positional writes need a non-append open. Received '${flags}'`]);
    }
    const fd = fs.openSync(file, 'a');
    const handle = await fs.promises.open(file, 'a+');
    try {
      expect(thrown(() => openDirectSync(fd)).code).toBe('ERR_INVALID_ARG_VALUE');
      expect((await rejection(openDirect(handle))).code).toBe('ERR_INVALID_ARG_VALUE');
    } finally {
      fs.closeSync(fd);
      await handle.close();
    }
    expect(fs.readFileSync(file)).toEqual(Buffer.alloc(8192, 1));
  });
});

describe('argument errors', () => {
  it('bad targets, flags, positions and buffers are typed errors', async () => {
    const file = path.join(dir, 'args');
    fs.writeFileSync(file, Buffer.alloc(4096));
    expect(thrown(() => openDirectSync({} as unknown as string)).code).toBe('ERR_INVALID_ARG_TYPE');
    expect(thrown(() => openDirectSync(file, 'rw' as 'r')).code).toBe('ERR_INVALID_ARG_VALUE');
    expect(thrown(() => openDirectSync(path.join(dir, 'missing'))).code).toBe('ENOENT');
    // A mode past 32 bits is refused as fs refuses it, and no file is created with its low bits.
    const moded = path.join(dir, 'moded');
    expect(thrown(() => openDirectSync(moded, 'w', { mode: 2 ** 40 })).code).toBe('ERR_OUT_OF_RANGE');
    expect(thrown(() => fs.openSync(moded, 'w', 2 ** 40)).code).toBe('ERR_OUT_OF_RANGE');
    expect(fs.existsSync(moded)).toBe(false);
    expect(thrown(() => new (DirectFile as unknown as new () => unknown)()).code).toBe('ERR_ILLEGAL_CONSTRUCTOR');
    await using f = await openDirect(file);
    const b = alignedBuffer(4096);
    expect((await rejection(f.read('x' as unknown as Buffer, 0))).code).toBe('ERR_INVALID_ARG_TYPE');
    expect((await rejection(f.read(b, undefined as unknown as number))).code).toBe('ERR_INVALID_ARG_TYPE');
    expect((await rejection(f.read(b, -4096))).code).toBe('ERR_OUT_OF_RANGE');
    expect((await rejection(f.readv(Array.from({ length: 1025 }, () => b), 0))).code).toBe('ERR_OUT_OF_RANGE');
    expect((await rejection(f.readv([b, 'x' as unknown as Buffer], 0))).code).toBe('ERR_INVALID_ARG_TYPE');
    // Shared memory is refused alike natively and without the binding.
    const shared = new Uint8Array(new SharedArrayBuffer(4096));
    for (const err of [await rejection(f.read(shared, 0)), thrown(() => f.readSync(shared, 0)),
      await rejection(f.writev([b, shared], 0))]) {
      expect(err.code).toBe('ERR_INVALID_ARG_TYPE');
    }
    // A hole is an index like any other.
    const holes = [b, , b] as Buffer[]; // eslint-disable-line no-sparse-arrays
    for (const err of [await rejection(f.readv(holes, 0)), await rejection(f.writev(holes, 0))]) {
      expect([err.code, err.message]).toEqual(['ERR_INVALID_ARG_TYPE',
        'The "buffers[1]" argument must be an instance of ArrayBufferView. Received undefined']);
    }
    expect(thrown(() => residency(file, { offset: -1 })).code).toBe('ERR_OUT_OF_RANGE');
    // A range that would end past 2 ** 63 - 1 (the largest file offset), for every call.
    const last = 2n ** 63n - 4096n;
    for (const err of [thrown(() => residency(file, { offset: 2n ** 63n - 1n, length: Number.MAX_SAFE_INTEGER })),
      await rejection(evict(file, { offset: last, length: 8192 })), thrown(() => prefetch(file, { offset: last, length: 8192 })),
      await rejection(f.read(alignedBuffer(8192), last)), thrown(() => f.readSync(alignedBuffer(8192), last)),
      await rejection(f.writev([b, b], last))]) {
      expect(err.code).toBe('ERR_OUT_OF_RANGE');
    }
    const w = await rejection(openDirect(file).then((g) => g.write(b, 0)));
    expect(w.code).toBe('EBADF'); // opened 'r': the kernel's answer to a write on a read-only fd
  });
});

describe.skipIf(FALLBACK)('edges of a process\'s life (child processes)', () => {
  const file = path.join(dir, 'edges');
  fs.writeFileSync(file, randomBytes(64 * MiB));
  const run = (mode: string) => spawnSync(process.execPath, [fixture('direct-teardown.mjs'), mode, file, String(64 * MiB)], {
    encoding: 'utf8', timeout: 60_000,
  });

  it('process.exit with direct reads in flight exits cleanly', () => {
    const child = run('exit');
    expect(child.signal).toBeNull();
    expect(child.status).toBe(0);
    expect(JSON.parse(child.stdout)).toEqual({ direct: true });
  });

  it('terminating a worker thread does not wait for its direct reads: they finish into memory of their own', () => {
    const child = run('worker');
    expect(child.signal).toBeNull();
    expect(child.status).toBe(0);
    expect(JSON.parse(child.stdout)).toEqual({ terminated: 1 });
  });

  it('a read whose ArrayBuffer is transferred and collected meanwhile writes into none of what comes next', () => {
    const child = spawnSync(process.execPath, ['--expose-gc', fixture('direct-teardown.mjs'), 'transfer', file,
      String(64 * MiB)], { encoding: 'utf8', timeout: 60_000 });
    expect(child.signal).toBeNull();
    expect(child.status).toBe(0);
    expect(JSON.parse(child.stdout)).toEqual({ outcomes: [64 * MiB, 64 * MiB, 64 * MiB], dirty: 0 });
  });

  it('closing a DirectFile under its reads lets them finish on their own fd', () => {
    const child = run('close');
    expect(child.signal).toBeNull();
    expect(child.status).toBe(0);
    expect(JSON.parse(child.stdout)).toEqual({ bytes: [64 * MiB, 64 * MiB, 64 * MiB, 64 * MiB] });
  });
});
