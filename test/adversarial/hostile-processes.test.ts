// Hostile second processes and hostile peers, each run in a child process so that a crash (a SIGBUS that got
// through, an abort) or a hang is seen: another program truncating, rewriting, overwriting and renaming the file
// under sendFile, copyFileRange and mappings; peers that reset, stall and half-close under sendFile, proxy,
// receiveFile and serveFile.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { randomFile, tempDir } from '../helpers';
import { jsonLines, runChild } from './child';

const FIXTURES = path.join(__dirname, 'fixtures');
const dir = tempDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Runs a fixture to its end; resolves with its JSON lines, rejects when it dies or outlives `timeoutMs`. */
async function runFixture(name: string, args: string[], timeoutMs: number): Promise<Record<string, unknown>[]> {
  const end = await runChild(process.execPath, [path.join(FIXTURES, name), ...args], timeoutMs);
  if (end.code !== 0) {
    throw new Error(`${name} ended with code ${end.code}, signal ${end.signal}\n${end.out.slice(-2000)}\n${end.err.slice(-2000)}`);
  }
  return jsonLines(end.out);
}

const CODE = /^(E[A-Z0-9]+|ERR_[A-Z0-9_]+|ABORT_ERR)$/;

describe('a second process vandalising the file', () => {
  it('truncations, rewrites, overwrites and renames under sendFile, copyFileRange and map: all settle, none lies', async () => {
    const { file } = randomFile(dir, 4 << 20, 'vandalised');
    const [summary] = await runFixture('transfers-under-vandal.mjs', [file, '3000'], 60_000);
    const outcomes = summary.outcomes as Record<string, Record<string, number>>;
    expect(summary.lies).toEqual([]);
    for (const family of ['sendFile', 'copyFileRange', 'map']) {
      expect(Object.keys(outcomes[family] ?? {}).length, family).toBeGreaterThan(0);
      for (const outcome of Object.keys(outcomes[family])) {
        expect(outcome.startsWith('ok') || CODE.test(outcome), `${family}: ${outcome}`).toBe(true);
      }
    }
  });
});

describe('peers that reset, stall and half-close', () => {
  it('every call settles with a result or its code, an abort acts within the bound, and no fd is left', async () => {
    const lines = await runFixture('hostile-peers.mjs', [], 120_000);
    const outcome = Object.fromEntries(lines.map((l) => [l.name, l.outcome]));
    // ECONNRESET where the reset reached us first, EPIPE where our write found it; the fallback's stream may
    // instead see a close before the length.
    const reset = expect.stringMatching(/^(ECONNRESET|EPIPE|ERR_STREAM_PREMATURE_CLOSE)$/);
    expect(outcome).toEqual({
      'sendFile: the peer resets mid-transfer': reset,
      'sendFile: the peer stalls, the caller aborts': 'ABORT_ERR',
      'sendFile: the peer half-closes and keeps reading': `ok ${64 << 20}`,
      'sendFile: the caller destroys the socket from onProgress': 'ERR_STREAM_PREMATURE_CLOSE',
      'proxy: one side resets mid-relay': reset,
      'proxy: one side stalls, the caller aborts': 'ABORT_ERR',
      'proxy: both sides half-close in turn': `ok ${1 << 20}/${1 << 20}`,
      'receiveFile: the sender resets mid-upload': reset,
      'receiveFile: the sender stalls, the caller aborts': 'ABORT_ERR',
      'receiveFile: the sender half-closes before length': 'ERR_STREAM_PREMATURE_CLOSE',
      'serveFile: the client goes away mid-body': reset,
      'serveFile: the client stalls, the server aborts': 'ABORT_ERR',
    });
    for (const l of lines) {
      expect(l.fdsAfter, `${l.name}: fds`).toBeLessThanOrEqual(l.fdsBefore as number);
      if (l.abortMs !== undefined) expect(l.abortMs, `${l.name}: abort`).toBeLessThan(1000);
    }
  });
});
