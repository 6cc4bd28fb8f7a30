// capabilities(): everything natively on this Linux machine; the reason under the forced fallback.
// ZEROCOPY_REQUIRE_NATIVE and the fallback warning in child processes (the package test covers a real install).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { capabilities } from '../src/index';
import { FALLBACK, tempDir } from './helpers';

const repo = path.resolve(__dirname, '..');

/** `node -e script` on this checkout's lib/, with exactly these zerocopy variables. */
function child(script: string, env: Record<string, string>) {
  const clean = { ...process.env };
  delete clean.ZEROCOPY_FORCE_FALLBACK;
  return spawnSync(process.execPath, ['-e', script], { env: { ...clean, ...env, ZEROCOPY_REPO: repo }, encoding: 'utf8', timeout: 30_000 });
}

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

describe('ZEROCOPY_REQUIRE_NATIVE and the fallback warning', () => {
  it('makes the import throw where the addon is not in use, naming why', () => {
    const run = child("try { require(process.env.ZEROCOPY_REPO) } catch (e) { console.log(e.code + ': ' + e.message); process.exit(3) }",
      { ZEROCOPY_REQUIRE_NATIVE: '1', ZEROCOPY_FORCE_FALLBACK: '1' });
    expect(run.status).toBe(3);
    expect(run.stdout.trim()).toBe('ERR_ZEROCOPY_NATIVE_REQUIRED: zerocopy: ZEROCOPY_REQUIRE_NATIVE=1 but the native addon is not in use: ' +
      'forced off by ZEROCOPY_FORCE_FALLBACK=1');
  });

  it('takes any value but unset, empty, 0 and false as on', () => {
    const script = "try { require(process.env.ZEROCOPY_REPO); console.log('loaded') } catch (e) { console.log(e.code) }";
    for (const value of ['true', 'yes', '2']) {
      expect(child(script, { ZEROCOPY_REQUIRE_NATIVE: value, ZEROCOPY_FORCE_FALLBACK: '1' }).stdout.trim(), value)
        .toBe('ERR_ZEROCOPY_NATIVE_REQUIRED');
    }
    for (const value of ['', '0', 'false']) {
      expect(child(script, { ZEROCOPY_REQUIRE_NATIVE: value, ZEROCOPY_FORCE_FALLBACK: '1' }).stdout.trim(), value).toBe('loaded');
    }
  });

  it('loads where the addon is in use', () => {
    const run = child("console.log(require(process.env.ZEROCOPY_REPO).capabilities().native)", { ZEROCOPY_REQUIRE_NATIVE: '1' });
    expect(run.stdout.trim()).toBe('true');
  });

  it('stays quiet when the fallback is forced on purpose', () => {
    const dir = tempDir();
    try {
      fs.writeFileSync(path.join(dir, 'in'), 'x'.repeat(1000));
      const script = `const z = require(process.env.ZEROCOPY_REPO);
        process.on('warning', (w) => console.log('warning', w.code));
        z.copyFileRange(${JSON.stringify(path.join(dir, 'in'))}, ${JSON.stringify(path.join(dir, 'out'))})
          .then(() => setImmediate(() => console.log(JSON.stringify(z.stats().fallbacks))));`;
      const run = child(script, { ZEROCOPY_FORCE_FALLBACK: '1' });
      expect(run.stdout.trim()).toBe('{"no-binding":1}');
      expect(run.stderr).toBe('');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
