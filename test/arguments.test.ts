// Bad arguments throw Node's ERR_* codes before any syscall, and nothing a caller passes crashes the process.
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as zc from '../src/index';

type Call = () => unknown;

function codeOf(fn: Call): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

const cases: [string, Call, string][] = [
  ['string fd', () => zc.sendfileSync('3' as never, 0, { length: 1 }), 'ERR_INVALID_ARG_TYPE'],
  ['negative fd', () => zc.sendfileSync(-1, 0, { length: 1 }), 'ERR_OUT_OF_RANGE'],
  ['fractional fd', () => zc.spliceSync(1.5, 0, 1), 'ERR_OUT_OF_RANGE'],
  ['fd beyond int32', () => zc.teeSync(2 ** 31, 0, 1), 'ERR_OUT_OF_RANGE'],
  ['NaN fd', () => zc.copyFileRangeSync(NaN, 0, 1), 'ERR_OUT_OF_RANGE'],
  ['missing options', () => zc.sendfileSync(1, 0, undefined as never), 'ERR_INVALID_ARG_TYPE'],
  ['missing length', () => zc.sendfileSync(1, 0, {} as never), 'ERR_INVALID_ARG_TYPE'],
  ['negative length', () => zc.spliceSync(0, 1, -1), 'ERR_OUT_OF_RANGE'],
  ['fractional length', () => zc.spliceSync(0, 1, 0.5), 'ERR_OUT_OF_RANGE'],
  ['Infinity length', () => zc.teeSync(0, 1, Infinity), 'ERR_OUT_OF_RANGE'],
  ['length beyond 2^53', () => zc.copyFileRangeSync(0, 1, 2 ** 54), 'ERR_OUT_OF_RANGE'],
  ['bigint length', () => zc.spliceSync(0, 1, 5n as never), 'ERR_INVALID_ARG_TYPE'],
  ['negative offset', () => zc.sendfileSync(1, 0, { length: 1, offset: -1 }), 'ERR_OUT_OF_RANGE'],
  ['negative bigint offset', () => zc.spliceSync(0, 1, 1, { offsetIn: -1n }), 'ERR_OUT_OF_RANGE'],
  ['offset beyond 2^63-1', () => zc.copyFileRangeSync(0, 1, 1, { offsetOut: 2n ** 63n }), 'ERR_OUT_OF_RANGE'],
  ['number offset beyond 2^53', () => zc.copyFileRangeSync(0, 1, 1, { offsetIn: 2 ** 60 }), 'ERR_OUT_OF_RANGE'],
  ['string offset', () => zc.sendfileSync(1, 0, { length: 1, offset: '1' as never }), 'ERR_INVALID_ARG_TYPE'],
  ['options not an object', () => zc.spliceSync(0, 1, 1, 7 as never), 'ERR_INVALID_ARG_TYPE'],
  ['options an array', () => zc.teeSync(0, 1, 1, [] as never), 'ERR_INVALID_ARG_TYPE'],
  ['non-boolean flag', () => zc.spliceSync(0, 1, 1, { nonBlock: 1 as never }), 'ERR_INVALID_ARG_TYPE'],
  ['vmsplice of a string', () => zc.vmspliceSync(1, 'abc' as never), 'ERR_INVALID_ARG_TYPE'],
  ['vmsplice of a plain array', () => zc.vmspliceSync(1, [[1, 2]] as never), 'ERR_INVALID_ARG_TYPE'],
  ['vmsplice of an ArrayBuffer', () => zc.vmspliceSync(1, new ArrayBuffer(4) as never), 'ERR_INVALID_ARG_TYPE'],
  ['pipe size 0', () => zc.createPipe({ size: 0 }), 'ERR_OUT_OF_RANGE'],
  ['pipe size beyond int32', () => zc.createPipe({ size: 2 ** 31 }), 'ERR_OUT_OF_RANGE'],
  ['pipe size a string', () => zc.createPipe({ size: '4096' as never }), 'ERR_INVALID_ARG_TYPE'],
];

describe('argument validation', () => {
  it.each(cases)('%s', (_name, call, code) => {
    expect(codeOf(call)).toBe(code);
  });

  it('words errors like Node does', () => {
    expect(() => zc.sendfileSync('3' as never, 0, { length: 1 })).toThrow(
      'The "outFd" argument must be of type number. Received type string (\'3\')',
    );
    expect(() => zc.spliceSync(0, 1, -1)).toThrow(RangeError);
  });

  it('validates before any syscall: a bad length on a closed fd is a range error, not EBADF', () => {
    expect(codeOf(() => zc.sendfileSync(99999, 99998, { length: -5 }))).toBe('ERR_OUT_OF_RANGE');
  });

  it('turns a detached buffer into an empty view instead of a crash', () => {
    const pipe = zc.createPipe();
    const buf = new Uint8Array(new ArrayBuffer(16));
    structuredClone(buf.buffer, { transfer: [buf.buffer] });
    expect(buf.byteLength).toBe(0);
    expect(zc.vmspliceSync(pipe.writeFd, [buf])).toBe(0);
    fs.closeSync(pipe.readFd);
    fs.closeSync(pipe.writeFd);
  });
});
