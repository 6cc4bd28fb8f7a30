// Native and fallback paths deliver identical bytes for the same calls (bufferutil's native-vs-fallback test).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as fallback from '../src/fallback';
import { copyFileRangeSync, createPipe, sendfileSync, spliceSync, vmspliceSync } from '../src/index';
import { FALLBACK, randomFile, sha256, tempDir } from './helpers';

const dir = tempDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

type Mover = (fdIn: number, fdOut: number, offset: number, length: number) => number;

/** Copies [offset, offset+length) of `file` into a new file with `move`, one call after another. */
function copyWith(file: string, out: string, offset: number, length: number, move: Mover): string {
  const fdIn = fs.openSync(file, 'r');
  const fdOut = fs.openSync(out, 'w');
  let done = 0;
  while (done < length) {
    const n = move(fdIn, fdOut, offset + done, length - done);
    if (n === 0) break;
    done += n;
  }
  fs.closeSync(fdIn);
  fs.closeSync(fdOut);
  return sha256(fs.readFileSync(out));
}

/** file -> pipe -> file, in pipe-sized steps. */
function viaPipe(spliceFn: typeof spliceSync, pipe: { readFd: number; writeFd: number }): Mover {
  return (fdIn, fdOut, offset, length) => {
    const n = spliceFn(fdIn, pipe.writeFd, Math.min(length, 65536), { offsetIn: offset });
    let out = 0;
    while (out < n) out += spliceFn(pipe.readFd, fdOut, n - out);
    return n;
  };
}

describe.skipIf(FALLBACK)('native and fallback agree', () => {
  const size = 3 * 2 ** 20 + 1234;
  const { file, data } = randomFile(dir, size, 'source');
  const ranges: [number, number][] = [
    [0, size],
    [1, 4096],
    [size - 1, 1],
    [777_777, 1_500_000],
    [size, 10],
  ];

  it.each(ranges)('sendfile, splice and copy_file_range of [%i, +%i)', (offset, length) => {
    const expected = sha256(data.subarray(offset, offset + length));
    const pipe = createPipe();
    const fbSplice: typeof spliceSync = (i, o, n, opt) => fallback.splice(i, o, n, opt?.offsetIn ?? null, null, opt?.nonBlock ?? false);
    const results = {
      sendfile: copyWith(file, path.join(dir, 'a'), offset, length, (i, o, off, n) =>
        sendfileSync(o, i, { offset: off, length: n })),
      sendfileFallback: copyWith(file, path.join(dir, 'b'), offset, length, (i, o, off, n) =>
        fallback.sendfile(o, i, off, n)),
      splice: copyWith(file, path.join(dir, 'c'), offset, length, viaPipe(spliceSync, pipe)),
      spliceFallback: copyWith(file, path.join(dir, 'd'), offset, length, viaPipe(fbSplice, pipe)),
      copyFileRange: copyWith(file, path.join(dir, 'e'), offset, length, (i, o, off, n) =>
        copyFileRangeSync(i, o, n, { offsetIn: off })),
      copyFileRangeFallback: copyWith(file, path.join(dir, 'f'), offset, length, (i, o, off, n) =>
        fallback.copyFileRange(i, o, n, off, null)),
    };
    for (const [name, hash] of Object.entries(results)) expect(hash, name).toBe(expected);
    fs.closeSync(pipe.readFd);
    fs.closeSync(pipe.writeFd);
  });

  it('vmsplice', () => {
    const views = [data.subarray(0, 1000), new Uint32Array(data.buffer, data.byteOffset + 4096, 100)];
    const total = 1000 + 400;
    const read = (fd: number) => {
      const b = Buffer.alloc(total);
      fs.readSync(fd, b, 0, total, null);
      return sha256(b);
    };
    const pipe = createPipe();
    expect(vmspliceSync(pipe.writeFd, views)).toBe(total);
    const nativeHash = read(pipe.readFd);
    expect(fallback.vmsplice(pipe.writeFd, views, false)).toBe(total);
    expect(read(pipe.readFd)).toBe(nativeHash);
    fs.closeSync(pipe.readFd);
    fs.closeSync(pipe.writeFd);
  });
});

// python3 makes the eventfd and the epoll fd that Node cannot, and hands them down to the fixture.
const WITH_EVENTFD_AND_EPOLL = `
import os, select, sys
efd = os.eventfd(1000, os.EFD_SEMAPHORE)
ep = select.epoll()
for fd in (efd, ep.fileno()): os.set_inheritable(fd, True)
os.environ.update(ZC_EVENTFD=str(efd), ZC_EPOLLFD=str(ep.fileno()))
os.execv(sys.argv[1], sys.argv[1:])
`;

/** The fixture's transcript, [row, outcome][], in one mode; a call that hangs or kills it fails with its row. */
function transcript(forceFallback: boolean): [string, string][] {
  try {
    const out = execFileSync('python3', ['-c', WITH_EVENTFD_AND_EPOLL, process.execPath,
      path.join(__dirname, 'fixtures', 'hostile-raw-calls.mjs')], {
      env: { ...process.env, ZEROCOPY_FORCE_FALLBACK: forceFallback ? '1' : '0' },
      timeout: 60_000,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return JSON.parse(out) as [string, string][];
  } catch (err) {
    const { stderr, signal, status } = err as { stderr?: string; signal?: string; status?: number };
    const row = String(stderr ?? '').trim().split('\n').pop();
    const mode = forceFallback ? 'fallback' : 'native';
    throw new Error(`${mode}: the transcript stopped (${signal ?? `exit ${status}`}) in the row: ${row}`);
  }
}

// tee(2) cannot be emulated: the fallback refuses what the kernel refuses and says ERR_ZEROCOPY_UNSUPPORTED
// where the kernel would have duplicated bytes (or waited for some: EAGAIN).
const teeWouldRun = (row: string, native: string, fallback: string) =>
  row.startsWith('teeSync') && (/^\d+$/.test(native) || native === 'EAGAIN tee') &&
  fallback === 'ERR_ZEROCOPY_UNSUPPORTED';

// Runs both modes itself (two child processes), so once is enough.
describe.skipIf(FALLBACK)('hostile raw calls: the fallback answers as the kernel does', () => {
  it('gives the same count or code, row by row, for every raw call on every kind of fd', () => {
    const native = transcript(false);
    const fallback = transcript(true);
    expect(fallback.map(([row]) => row)).toEqual(native.map(([row]) => row));
    expect(native.length).toBeGreaterThan(300);
    const disagreements = native
      .map(([row, got], i) => [row, got, fallback[i][1]])
      .filter(([row, n, f]) => n !== f && !teeWouldRun(row, n, f))
      .map(([row, n, f]) => `${row}: native ${n}, fallback ${f}`);
    expect(disagreements).toEqual([]);
  });
});
