// capabilities(): everything natively on this Linux machine; the reason under the forced fallback.
import { describe, expect, it } from 'vitest';
import { capabilities } from '../src/index';
import { FALLBACK } from './helpers';

const PATHS = ['sendfile', 'splice', 'tee', 'vmsplice', 'copyFileRange', 'mmap', 'leases'] as const;

describe('capabilities()', () => {
  it.skipIf(FALLBACK)('reports every zero-copy path natively on Linux', () => {
    const caps = capabilities();
    expect(caps.native).toBe(true);
    expect(caps.platform).toBe('linux');
    for (const p of PATHS) expect(caps[p], p).toBe(true);
    expect(caps.reason).toBeUndefined();
    expect(caps.reasons).toBeUndefined();
  });

  it.runIf(FALLBACK)('names the reason when the fallback is forced', () => {
    const caps = capabilities();
    expect(caps.native).toBe(false);
    for (const p of PATHS) expect(caps[p], p).toBe(false);
    expect(caps.reason).toBe('forced off by ZEROCOPY_FORCE_FALLBACK=1');
  });

  it('hands out a copy that callers cannot corrupt', () => {
    const caps = capabilities();
    caps.sendfile = !caps.sendfile;
    expect(capabilities().sendfile).toBe(!caps.sendfile);
  });
});
