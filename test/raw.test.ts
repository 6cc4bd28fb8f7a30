// The raw syscalls with real files, pipes and TCP sockets on 127.0.0.1, checked by sha256 of the exact bytes.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  copyFileRangeSync,
  createPipe,
  sendfileSync,
  spliceSync,
  teeSync,
  vmspliceSync,
} from '../src/index';
import { FALLBACK, drive, randomFile, sha256, socketFd, tcpPair, tempDir } from './helpers';

const dir = tempDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const GiB = 2 ** 30;

function readAll(fd: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const n = fs.readSync(fd, out, got, length - got, null);
    if (n === 0) break;
    got += n;
  }
  return out.subarray(0, got);
}

function closeAll(...fds: number[]): void {
  for (const fd of fds) fs.closeSync(fd);
}

describe('sendfileSync', () => {
  it('sends a file to a TCP socket byte-exact', async () => {
    const size = 3 * 2 ** 20 + 17;
    const { file, data } = randomFile(dir, size);
    const fd = fs.openSync(file, 'r');
    const pair = await tcpPair();
    const out = socketFd(pair.sender);
    const sent = await drive(size, (done) => sendfileSync(out, fd, { offset: done, length: size - done }));
    pair.sender.end();
    const received = await pair.received;
    closeAll(fd);
    pair.close();
    expect(sent).toBe(size);
    expect(sha256(received)).toBe(sha256(data));
  });

  it('uses and advances the file position when no offset is given, and leaves it alone when one is', () => {
    const { file, data } = randomFile(dir, 10_000, 'position');
    const fd = fs.openSync(file, 'r');
    const out = fs.openSync(path.join(dir, 'position-out'), 'w+');
    expect(sendfileSync(out, fd, { offset: 5000, length: 1000 })).toBe(1000);
    expect(sendfileSync(out, fd, { length: 300 })).toBe(300);
    expect(sendfileSync(out, fd, { length: 200 })).toBe(200);
    const written = readAll(fs.openSync(path.join(dir, 'position-out'), 'r'), 1500);
    expect(written.equals(Buffer.concat([data.subarray(5000, 6000), data.subarray(0, 500)]))).toBe(true);
    closeAll(fd, out);
  });

  it('returns 0 at the end of the file', () => {
    const { file } = randomFile(dir, 100, 'eof');
    const fd = fs.openSync(file, 'r');
    const out = fs.openSync(path.join(dir, 'eof-out'), 'w');
    expect(sendfileSync(out, fd, { offset: 100, length: 50 })).toBe(0);
    closeAll(fd, out);
  });

  it('throws EBADF with syscall sendfile on a closed fd, and the process lives on', () => {
    const { file } = randomFile(dir, 10, 'closed');
    const fd = fs.openSync(file, 'r');
    fs.closeSync(fd);
    const out = fs.openSync(path.join(dir, 'closed-out'), 'w');
    const err = catchError(() => sendfileSync(out, fd, { length: 10 }));
    expect(err).toMatchObject({ code: 'EBADF', syscall: 'sendfile', errno: -9 });
    expect(err.message).toBe('EBADF: bad file descriptor, sendfile');
    closeAll(out);
  });
});

describe('spliceSync', () => {
  it('moves file -> pipe -> TCP socket byte-exact', async () => {
    const size = 5 * 2 ** 20 + 3;
    const { file, data } = randomFile(dir, size, 'splice');
    const fd = fs.openSync(file, 'r');
    const pipe = createPipe({ size: 2 ** 20 });
    const pair = await tcpPair();
    const out = socketFd(pair.sender);
    let offset = 0;
    while (offset < size) {
      const inPipe = spliceSync(fd, pipe.writeFd, Math.min(pipe.size, size - offset), { offsetIn: offset });
      expect(inPipe).toBeGreaterThan(0);
      offset += inPipe;
      await drive(inPipe, (done) => spliceSync(pipe.readFd, out, inPipe - done, { nonBlock: true }));
    }
    pair.sender.end();
    const received = await pair.received;
    closeAll(fd, pipe.readFd, pipe.writeFd);
    pair.close();
    expect(sha256(received)).toBe(sha256(data));
  });

  it('refuses two regular files with EINVAL', () => {
    const { file } = randomFile(dir, 10, 'splice-a');
    const a = fs.openSync(file, 'r');
    const b = fs.openSync(path.join(dir, 'splice-b'), 'w');
    expect(catchError(() => spliceSync(a, b, 10))).toMatchObject({ code: 'EINVAL', syscall: 'splice' });
    closeAll(a, b);
  });

  it('answers EAGAIN on an empty pipe with nonBlock', () => {
    const pipe = createPipe({ nonBlock: true });
    const out = fs.openSync(path.join(dir, 'eagain-out'), 'w');
    expect(catchError(() => spliceSync(pipe.readFd, out, 10, { nonBlock: true }))).toMatchObject({
      code: 'EAGAIN',
      syscall: 'splice',
    });
    closeAll(pipe.readFd, pipe.writeFd, out);
  });
});

describe('teeSync', () => {
  it.skipIf(FALLBACK)('duplicates pipe contents and leaves the source readable', () => {
    const data = Buffer.from('tee copies without consuming '.repeat(500));
    const a = createPipe();
    const b = createPipe();
    fs.writeSync(a.writeFd, data);
    expect(teeSync(a.readFd, b.writeFd, data.length)).toBe(data.length);
    expect(sha256(readAll(b.readFd, data.length))).toBe(sha256(data));
    expect(sha256(readAll(a.readFd, data.length))).toBe(sha256(data));
    closeAll(a.readFd, a.writeFd, b.readFd, b.writeFd);
  });

  it.runIf(FALLBACK)('throws ERR_ZEROCOPY_UNSUPPORTED in the fallback', () => {
    const a = createPipe();
    const b = createPipe();
    expect(catchError(() => teeSync(a.readFd, b.writeFd, 10))).toMatchObject({ code: 'ERR_ZEROCOPY_UNSUPPORTED' });
    closeAll(a.readFd, a.writeFd, b.readFd, b.writeFd);
  });
});

describe('vmspliceSync', () => {
  it('moves several kinds of ArrayBufferView into a pipe byte-exact', () => {
    const pipe = createPipe();
    const bytes = Buffer.from('vmsplice gathers these views in order; ');
    const words = new Uint16Array([0x4142, 0x4344, 0x4546]);
    const backing = new Uint8Array(64).map((_, i) => i);
    const view = new DataView(backing.buffer, 8, 16);
    const expected = Buffer.concat([bytes, Buffer.from(words.buffer), Buffer.from(backing.buffer, 8, 16), bytes]);
    expect(vmspliceSync(pipe.writeFd, [bytes, words, new Uint8Array(0), view, bytes])).toBe(expected.length);
    expect(readAll(pipe.readFd, expected.length).equals(expected)).toBe(true);
    expect(vmspliceSync(pipe.writeFd, bytes.subarray(0, 8))).toBe(8);
    expect(readAll(pipe.readFd, 8).equals(bytes.subarray(0, 8))).toBe(true);
    closeAll(pipe.readFd, pipe.writeFd);
  });

  it('returns 0 for no bytes at all', () => {
    const pipe = createPipe();
    expect(vmspliceSync(pipe.writeFd, [])).toBe(0);
    expect(vmspliceSync(pipe.writeFd, Buffer.alloc(0))).toBe(0);
    closeAll(pipe.readFd, pipe.writeFd);
  });
});

describe('copyFileRangeSync', () => {
  it('copies file -> file byte-exact, with and without offsets', () => {
    const size = 2 * 2 ** 20 + 5;
    const { file, data } = randomFile(dir, size, 'cfr');
    const fdIn = fs.openSync(file, 'r');
    const dest = path.join(dir, 'cfr-out');
    const fdOut = fs.openSync(dest, 'w');
    const copied = copyAll((done) => copyFileRangeSync(fdIn, fdOut, size - done), size);
    expect(copied).toBe(size);
    expect(sha256(fs.readFileSync(dest))).toBe(sha256(data));
    // Offsets on both sides: the middle 1000 bytes land at 10, and neither fd position moves.
    expect(copyFileRangeSync(fdIn, fdOut, 1000, { offsetIn: 500, offsetOut: 10 })).toBe(1000);
    const after = fs.readFileSync(dest);
    expect(after.subarray(10, 1010).equals(data.subarray(500, 1500))).toBe(true);
    expect(copyFileRangeSync(fdIn, fdOut, 100)).toBe(0);
    closeAll(fdIn, fdOut);
  });

  it('refuses a pipe with EINVAL', () => {
    const { file } = randomFile(dir, 10, 'cfr-pipe');
    const fd = fs.openSync(file, 'r');
    const pipe = createPipe();
    expect(catchError(() => copyFileRangeSync(fd, pipe.writeFd, 10))).toMatchObject({
      code: 'EINVAL',
      syscall: 'copy_file_range',
    });
    closeAll(fd, pipe.readFd, pipe.writeFd);
  });
});

describe('offsets beyond 4 GiB in a sparse file', () => {
  const marker = Buffer.from('bytes stored five GiB into a sparse file');
  const far = 5 * GiB + 12345;
  const sparse = path.join(dir, 'sparse');

  it.each([
    ['number', far],
    ['bigint', BigInt(far)],
  ])('reads and writes at an offset given as a %s', (_kind, offset) => {
    const fd = fs.openSync(sparse, 'w+');
    fs.writeSync(fd, marker, 0, marker.length, far);
    const pipe = createPipe();
    expect(sendfileSync(pipe.writeFd, fd, { offset, length: marker.length })).toBe(marker.length);
    expect(readAll(pipe.readFd, marker.length).equals(marker)).toBe(true);

    expect(spliceSync(fd, pipe.writeFd, marker.length, { offsetIn: offset })).toBe(marker.length);
    expect(readAll(pipe.readFd, marker.length).equals(marker)).toBe(true);

    const copyAt = typeof offset === 'bigint' ? offset + 1000n : offset + 1000;
    expect(copyFileRangeSync(fd, fd, marker.length, { offsetIn: offset, offsetOut: copyAt })).toBe(marker.length);
    const back = Buffer.alloc(marker.length);
    fs.readSync(fd, back, 0, marker.length, far + 1000);
    expect(back.equals(marker)).toBe(true);
    expect(fs.fstatSync(fd).size).toBe(far + 1000 + marker.length);
    closeAll(fd, pipe.readFd, pipe.writeFd);
  });
});

describe('createPipe', () => {
  it('applies the size with F_SETPIPE_SZ and reports what the kernel set', () => {
    const pipe = createPipe({ size: 100_000 });
    // The kernel rounds up to a power-of-two number of pages; the fallback cannot resize (64 KiB).
    expect(pipe.size).toBe(FALLBACK ? 65536 : 131072);
    closeAll(pipe.readFd, pipe.writeFd);
  });

  it('marks both ends close-on-exec', () => {
    const pipe = createPipe();
    for (const fd of [pipe.readFd, pipe.writeFd]) {
      const flags = fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8').match(/flags:\s+(\d+)/)![1];
      expect(parseInt(flags, 8) & 0o2000000).not.toBe(0);
    }
    closeAll(pipe.readFd, pipe.writeFd);
  });
});

function copyAll(step: (done: number) => number, total: number): number {
  let done = 0;
  while (done < total) {
    const n = step(done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

function catchError(fn: () => unknown): Error & Record<string, unknown> {
  try {
    fn();
  } catch (err) {
    return err as Error & Record<string, unknown>;
  }
  throw new Error('expected an error');
}
