// configure(): engine threads are set before the first transfer, and refused after it.
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { configure } from '../src/index';
import { FALLBACK } from './helpers';

describe('configure()', () => {
  it('takes engineThreads before the first transfer and refuses it after; a bad value beside it applies nothing', () => {
    const out = execFileSync(process.execPath, [path.join(__dirname, 'fixtures', 'configure.mjs')], {
      env: process.env,
      encoding: 'utf8',
    });
    expect(JSON.parse(out)).toEqual(FALLBACK
      ? { zero: 'ERR_OUT_OF_RANGE', threads: 0, late: 'accepted' }
      : { zero: 'ERR_OUT_OF_RANGE', half: 'ERR_OUT_OF_RANGE 2', threads: 3, late: 'ERR_ZEROCOPY_STARTED' });
  });

  it('validates its options', () => {
    expect(() => configure({ engineThreads: 1.5 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => configure(7 as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  });
});
