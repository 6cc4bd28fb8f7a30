// Backpressure while a transfer owns a socket's output: a Readable piped into the socket stops at the socket's
// high-water mark instead of buffering without end, and goes on at 'drain'. In a child process with a timeout:
// without backpressure the pipe starves the event loop.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { randomFile, tempDir } from './helpers';

const dir = tempDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const MiB = 2 ** 20;

describe('backpressure', () => {
  it('pipe() into a socket that sendFile owns stops at the mark, then delivers file and stream byte-exact', () => {
    const { file } = randomFile(dir, 8 * MiB + 5, 'file');
    const streamBytes = 64 * MiB;
    const run = spawnSync(process.execPath, [path.join(__dirname, 'fixtures', 'backpressure.mjs'), file,
      String(streamBytes)], { encoding: 'utf8', env: process.env, timeout: 60_000 });
    expect(run.error?.message, 'the child hung').toBeUndefined();
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const report = JSON.parse(run.stdout);
    // Stalled: the Readable made at most a chunk or two past the mark (64 KiB chunks), and the socket counts them
    // (write() answers false from the mark on, as Node's does: at 64 KiB, Node 22's default mark, one chunk).
    expect(report.stalled.produced).toBeLessThanOrEqual(4 * 64 * 1024);
    expect(report.stalled.writableLength).toBeGreaterThanOrEqual(report.stalled.highWaterMark);
    expect(report.stalled.writableNeedDrain).toBe(true);
    expect(report.drains).toBeGreaterThan(0);
    expect(report.sent).toBe(8 * MiB + 5);
    expect(report.receivedBytes).toBe(8 * MiB + 5 + streamBytes);
    expect(report.intact).toBe(true);
  });
});
