// One file on both sides of a copy, however it is named (the same path, a symlink, a hard link, a second fd, a
// FileHandle): overlapping ranges are refused with EINVAL as copy_file_range(2) refuses them and the file keeps
// every byte; ranges that do not overlap are copied, and the file is never cut. Another file named as the
// destination path is cut to the copy's length only after the copy has succeeded. Native and forced fallback (the vitest projects) give the same results.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { copyFileRange, copyFileRangeSync } from '../src/index';
import { randomFile, sha256, tempDir } from './helpers';

const dir = tempDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const SIZE = 3 << 20;
let serial = 0;
const fresh = () => randomFile(dir, SIZE, `file-${serial++}`);
const refused = { code: 'EINVAL', syscall: 'copy_file_range' };

function catchError(call: () => unknown): unknown {
  try {
    call();
  } catch (err) {
    return err;
  }
  throw new Error('did not throw');
}

describe('copyFileRange with one file on both sides', () => {
  const names: [string, (file: string) => string | number | Promise<fs.promises.FileHandle>][] = [
    ['the same path', (file) => file],
    ['a symlink to it', (file) => {
      const link = `${file}.symlink`;
      fs.symlinkSync(file, link);
      return link;
    }],
    ['a hard link to it', (file) => {
      const link = `${file}.link`;
      fs.linkSync(file, link);
      return link;
    }],
    ['a second fd on it', (file) => fs.openSync(file, 'r+')],
    ['a FileHandle on it', (file) => fs.promises.open(file, 'r+')],
  ];

  it.each(names)('a whole file onto itself through %s: EINVAL, and not a byte lost', async (_, name) => {
    const { file, data } = fresh();
    const dst = await name(file);
    await expect(copyFileRange(file, dst)).rejects.toMatchObject(refused);
    expect(fs.statSync(file).size).toBe(SIZE);
    expect(sha256(fs.readFileSync(file))).toBe(sha256(data));
    if (typeof dst === 'number') fs.closeSync(dst);
    else if (typeof dst === 'object') await dst.close();
  });

  it.each(names)('a range onto the start of the same file through %s, by path: copied, the rest kept, never cut',
    async (_, name) => {
      const { file, data } = fresh();
      const dst = await name(file);
      // Empty ranges (none to overlap) and the second half onto the first: a path destination is cut to the copy
      // only when it is another file.
      expect(await copyFileRange(file, dst, { length: 0 })).toBe(0);
      expect(await copyFileRange(file, dst, { offsetIn: SIZE })).toBe(0);
      expect(sha256(fs.readFileSync(file))).toBe(sha256(data));
      if (typeof dst === 'string') {
        expect(await copyFileRange(file, dst, { offsetIn: SIZE / 2 })).toBe(SIZE / 2);
        const after = fs.readFileSync(file);
        expect(after.length).toBe(SIZE);
        expect(sha256(after)).toBe(sha256(Buffer.concat([data.subarray(SIZE / 2), data.subarray(SIZE / 2)])));
      }
      if (typeof dst === 'number') fs.closeSync(dst);
      else if (typeof dst === 'object') await dst.close();
    });

  it('overlapping ranges by offset: EINVAL, the file unchanged', async () => {
    const { file, data } = fresh();
    await expect(copyFileRange(file, file, { offsetIn: 0, offsetOut: 4096, length: 8192 })).rejects.toMatchObject(refused);
    await expect(copyFileRange(file, file, { offsetIn: 4096, offsetOut: 0, length: 8192 })).rejects.toMatchObject(refused);
    expect(sha256(fs.readFileSync(file))).toBe(sha256(data));
  });

  it('ranges that do not overlap are copied within the file', async () => {
    const { file, data } = fresh();
    const half = SIZE / 2;
    expect(await copyFileRange(file, file, { offsetIn: 0, offsetOut: half, length: half })).toBe(half);
    const expected = Buffer.concat([data.subarray(0, half), data.subarray(0, half)]);
    expect(sha256(fs.readFileSync(file))).toBe(sha256(expected));
    // Past the end: the file grows, as a copy to a higher offset of another file would make it.
    expect(await copyFileRange(file, file, { offsetIn: 0, offsetOut: SIZE + 10, length: 100 })).toBe(100);
    const grown = fs.readFileSync(file);
    expect(grown.length).toBe(SIZE + 110);
    expect(sha256(grown.subarray(SIZE + 10))).toBe(sha256(data.subarray(0, 100)));
  });

  it('a second fd writing at its own position: refused while the ranges overlap, copied once they do not', async () => {
    const { file, data } = fresh();
    const fd = fs.openSync(file, 'r+');
    await expect(copyFileRange(file, fd, { length: 1000 })).rejects.toMatchObject(refused);
    fs.readSync(fd, Buffer.alloc(2000), 0, 2000, null); // the fd's position is now 2000
    expect(await copyFileRange(file, fd, { length: 1000 })).toBe(1000);
    fs.closeSync(fd);
    const expected = Buffer.from(data);
    data.copy(expected, 2000, 0, 1000);
    expect(sha256(fs.readFileSync(file))).toBe(sha256(expected));
  });

  it('a destination path ends up holding exactly the copy: cut after the copy, never before', async () => {
    const { file: src, data } = randomFile(dir, 5000, 'small-source');
    const { file: dst } = fresh();
    expect(await copyFileRange(src, dst)).toBe(5000);
    expect(sha256(fs.readFileSync(dst))).toBe(sha256(data));
    // A range of a file into its own start, from a part it does not overlap: copied, and the file is not cut.
    const { file, data: whole } = fresh();
    expect(await copyFileRange(file, file, { offsetIn: SIZE - 1000, length: 1000 })).toBe(1000);
    const expected = Buffer.from(whole);
    whole.copy(expected, 0, SIZE - 1000);
    expect(sha256(fs.readFileSync(file))).toBe(sha256(expected));
  });
});

describe('copyFileRangeSync with one file on both sides', () => {
  it('refuses overlapping ranges of one fd with EINVAL, copies ranges that do not overlap', () => {
    const { file, data } = fresh();
    const fd = fs.openSync(file, 'r+');
    expect(catchError(() => copyFileRangeSync(fd, fd, 1000, { offsetIn: 0, offsetOut: 500 }))).toMatchObject(refused);
    expect(sha256(fs.readFileSync(file))).toBe(sha256(data));
    expect(copyFileRangeSync(fd, fd, 1000, { offsetIn: 0, offsetOut: 1000 })).toBe(1000);
    fs.closeSync(fd);
    const expected = Buffer.from(data);
    data.copy(expected, 1000, 0, 1000);
    expect(sha256(fs.readFileSync(file))).toBe(sha256(expected));
  });

  it('two fds of one file at their positions: EINVAL while they overlap; the length is first cut to the end', () => {
    const { file, data } = fresh();
    const a = fs.openSync(file, 'r');
    const b = fs.openSync(path.join(dir, path.basename(file)), 'r+');
    expect(catchError(() => copyFileRangeSync(a, b, 100))).toMatchObject(refused);
    // Reading 10 bytes short of the end into a write at the end: 10 bytes, no overlap once cut.
    expect(catchError(() => copyFileRangeSync(a, b, 100, { offsetIn: SIZE - 10, offsetOut: SIZE - 5 })))
      .toMatchObject(refused);
    expect(copyFileRangeSync(a, b, 100, { offsetIn: SIZE - 10, offsetOut: SIZE })).toBe(10);
    fs.closeSync(a);
    fs.closeSync(b);
    expect(sha256(fs.readFileSync(file))).toBe(sha256(Buffer.concat([data, data.subarray(SIZE - 10)])));
  });
});
