// The 'mmap' strategy into a pipe, its file truncated by another process to the middle of a page and then written
// back whole. A pipe takes a write from a mapping a page at a time and stops at a page boundary when full, so a
// transfer can park right after the page that held the new end of file went in, its tail (past that end) read from
// the mapping as zeros, counted as written data. The file then gets its bytes back; the transfer goes on and ends
// with every promised byte, no truncation reported, zeros in the middle of a body whose file never held a zero.
// The file's states were: the original, a shorter prefix of it, the original again. 'sendfile', 'splice' and
// 'copy' deliver the original exactly in the same run (the file stops at its end for them: no zeros counted).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FALLBACK, tempDir } from './helpers';

const work = tempDir();
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));
const fixture = path.join(__dirname, 'fixtures', 'pipe-trunc-restore.mjs');

function run(strategy: string, size: number) {
  const dir = fs.mkdtempSync(path.join(work, `${strategy}-`));
  const out = execFileSync(process.execPath, [fixture, dir, String(size), strategy], { timeout: 40_000, encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop()!) as {
    settled: { ok: boolean; bytes?: number; code?: string }; received: number; size: number; whole: boolean;
    zeros: number; firstZero: number; cut: number;
  };
}

describe.skipIf(FALLBACK)('a file truncated mid-page and written back while the mmap strategy fills a pipe', () => {
  for (const size of [(1 << 20) + 123, (1 << 20) - 1, 1 << 20]) {
    it(`${size} bytes: 'mmap' delivers the file exactly or fails ERR_FILE_TRUNCATED, never whole with zeros`, () => {
      const r = run('mmap', size);
      // Either the file (its only complete state), or cut short with ERR_FILE_TRUNCATED.
      if (r.settled.ok) {
        expect({ received: r.received, whole: r.whole, zeros: r.zeros, firstZero: r.firstZero })
          .toEqual({ received: size, whole: true, zeros: 0, firstZero: -1 });
      } else {
        expect(r.settled.code).toBe('ERR_FILE_TRUNCATED');
        expect(r.received).toBeLessThan(size);
      }
    }, 60_000);
  }

  for (const strategy of ['sendfile', 'splice', 'copy']) {
    it(`'${strategy}' in the same run: the file exactly`, () => {
      const r = run(strategy, (1 << 20) + 123);
      expect({ ok: r.settled.ok, received: r.received, whole: r.whole, zeros: r.zeros })
        .toEqual({ ok: true, received: (1 << 20) + 123, whole: true, zeros: 0 });
    }, 60_000);
  }
});
