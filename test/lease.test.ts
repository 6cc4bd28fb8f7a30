// Leases with real child processes that open, truncate, unlink and rename the leased file.
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import {
  type Lease,
  type SendFileOptions,
  type SendResult,
  acquireLease,
  constants,
  createPipe,
  getLease,
  map,
  mapSync,
  sendFile,
} from '../src/index';
import { FALLBACK, sleep, tempDir } from './helpers';

const dir = tempDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const run = promisify(execFile);
const breaker = path.join(__dirname, 'fixtures', 'lease-breaker.mjs');

function file(name: string): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, 'leased contents');
  return p;
}

/** Runs the breaker without blocking this thread; resolves with how long its operation took. */
function breakWith(op: string, target: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [breaker, op, target], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out).ms) : reject(new Error(`breaker exited ${code}`))));
  });
}

function nextBreak(lease: Lease): Promise<{ fd: number; type: string; at: number }> {
  return new Promise((resolve) => lease.once('break', resolve));
}

describe.skipIf(FALLBACK)('leases', () => {
  it("a writer's open fires 'break'; under 'release' the writer goes on long before lease-break-time", async () => {
    const f = file('release');
    const lease = await acquireLease(f, 'read');
    expect(getLease(lease.fd)).toBe('read');
    const broke = nextBreak(lease);
    const ms = await breakWith('open-write', f);
    const event = await broke;
    expect(event).toMatchObject({ fd: lease.fd, type: 'read' });
    expect(event.at).toBeGreaterThan(Date.now() - 60_000);
    expect(lease.broken).toBe(true);
    expect(ms).toBeLessThan(10_000); // lease-break-time is 45 s here
    await sleep(10);
    expect(lease.released).toBe(true);
    expect(getLease(lease.fd)).toBe('none');
    lease.release();
  });

  it("under 'hold' the writer waits for release() ...", async () => {
    const f = file('hold-release');
    const lease = await acquireLease(f, 'read', { onBreak: 'hold', graceMs: 20_000 });
    lease.once('break', () => setTimeout(() => lease.release(), 200));
    const ms = await breakWith('open-write', f);
    expect(ms).toBeGreaterThanOrEqual(150);
    expect(ms).toBeLessThan(10_000);
    expect(lease.released).toBe(true);
  });

  it('... or for graceMs, even while the JS thread is blocked in a busy loop', async () => {
    const f = file('hold-grace');
    const lease = await acquireLease(f, 'read', { onBreak: 'hold', graceMs: 300 });
    const child = breakWith('open-write', f);
    const until = Date.now() + 3000;
    while (Date.now() < until) {
      // the event loop is stuck: only the native lease thread can let the writer go
    }
    const ms = await child;
    expect(ms).toBeGreaterThanOrEqual(250);
    expect(ms).toBeLessThan(2500);
    await sleep(10);
    expect(lease.broken).toBe(true);
    expect(lease.released).toBe(true);
    lease.release();
  });

  it('truncate(2) breaks a lease; open(O_RDONLY), unlink and rename do not', async () => {
    const f = file('truncate');
    const lease = await acquireLease(f, 'read');
    const broke = nextBreak(lease);
    await breakWith('truncate', f);
    await broke;
    lease.release();

    for (const op of ['open-read', 'rename', 'unlink']) {
      const g = file(`quiet-${op}`);
      const quiet = await acquireLease(g, 'read');
      let broken = false;
      quiet.on('break', () => (broken = true));
      await breakWith(op, g);
      await sleep(200);
      expect(broken, op).toBe(false);
      expect(quiet.broken).toBe(false);
      quiet.release();
    }
  });

  it('many leases on many files: each break reaches its own Lease', async () => {
    const files = Array.from({ length: 12 }, (_, i) => file(`many-${i}`));
    const leases = await Promise.all(files.map((f) => acquireLease(f, 'read')));
    const counts = leases.map(() => 0);
    leases.forEach((l, i) => l.on('break', () => counts[i]++));
    const victims = [1, 4, 5, 9];
    await Promise.all(victims.map((i) => breakWith('open-write', files[i])));
    await sleep(100);
    expect(counts).toEqual(counts.map((_, i) => (victims.includes(i) ? 1 : 0)));
    for (const l of leases) l.release();
  });

  it('EAGAIN when the file is open for writing elsewhere, with a reason', async () => {
    const f = file('busy');
    const writer = fs.openSync(f, 'r+');
    const err = await acquireLease(f, 'read').then(() => undefined, (e) => e);
    fs.closeSync(writer);
    expect(err).toMatchObject({ code: 'EAGAIN', syscall: 'fcntl', path: f });
    expect(err.message).toContain('open for writing, or mapped writable, elsewhere');
    const other = fs.openSync(f, 'r');
    const werr = await acquireLease(f, 'write').then(() => undefined, (e) => e);
    fs.closeSync(other);
    expect(werr).toMatchObject({ code: 'EAGAIN' });
    expect(werr.message).toContain('another descriptor or mapping of this file exists');
  });

  it('EINVAL on a pipe', async () => {
    const pipe = createPipe();
    const err = await acquireLease(pipe.readFd, 'read').then(() => undefined, (e) => e);
    fs.closeSync(pipe.readFd);
    fs.closeSync(pipe.writeFd);
    expect(err).toMatchObject({ code: 'EINVAL' });
    expect(err.message).toContain('leases need a regular file');
  });

  const root = process.getuid?.() === 0;
  it.skipIf(!root)('EACCES for a file owned by another user (a child switched to nobody)', async () => {
    const f = file('owned-by-root');
    fs.chmodSync(dir, 0o755);
    fs.chmodSync(f, 0o644);
    const { stdout } = await run(process.execPath, [path.join(__dirname, 'fixtures', 'lease-as-nobody.mjs'), f]);
    expect(stdout).toBe('EACCES');
  });

  it('release() is idempotent and a Symbol.dispose; the signal is a real-time one', async () => {
    const f = file('dispose');
    const lease = await acquireLease(f, 'write');
    expect(getLease(lease.fd)).toBe('write');
    lease[Symbol.dispose]();
    lease.release();
    expect(lease.released).toBe(true);
    expect(constants.RT_SIGNAL_LEASE).toBeGreaterThanOrEqual(34);
  });

  it('rejects bad arguments with their codes', async () => {
    await expect(acquireLease(file('bad'), 'shared' as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    await expect(acquireLease(file('bad2'), 'read', { onBreak: 'later' as never })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    await expect(acquireLease(file('bad3'), 'read', { graceMs: 10_000_000 })).rejects.toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
    await expect(acquireLease(path.join(dir, 'missing'), 'read')).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe.skipIf(FALLBACK)('lease-guarded mappings and transfers', () => {
  it("map(path, { lease: true }): a writer makes the mapping emit 'revoked'", async () => {
    const f = file('mapped');
    const mapping = await map(f, { lease: true });
    expect(mapping.leased).toBe(true);
    const revoked = new Promise((r) => mapping.once('revoked', r));
    await breakWith('open-write', f);
    await revoked;
    expect(mapping.revoked).toBe(true);
    expect(mapping.buffer.toString()).toBe('leased contents');
    mapping.unmap();
  });

  it('a lease that cannot be had: true goes on without one and says why; required rejects', async () => {
    const f = file('unleasable');
    const writer = fs.openSync(f, 'r+');
    const m = mapSync(f, { lease: true });
    expect([m.leased, m.leaseReason]).toEqual([false, 'EAGAIN']);
    m.unmap();
    expect(() => mapSync(f, { lease: 'required' })).toThrow(expect.objectContaining({ code: 'EAGAIN' }));
    const { result } = await sendOnce(f, { lease: true });
    expect(result).toMatchObject({ leased: false, leaseReason: 'EAGAIN' });
    const { error } = await sendOnce(f, { lease: 'required' });
    expect(error).toMatchObject({ code: 'EAGAIN' });
    fs.closeSync(writer);
  });

  it('while a child rewrites the file in a loop, 100 leased sendFiles each deliver the original or a cut-short prefix', async () => {
    const f = path.join(dir, 'churned');
    const original = randomBytes(8 * 2 ** 20);
    fs.writeFileSync(f, original);
    const churn = run(process.execPath, [path.join(__dirname, 'fixtures', 'lease-churn.mjs'), f, '4000']);
    const outcomes: Record<string, number> = {};
    for (let i = 0; i < 100; i++) {
      const { got, result, error } = await sendOnce(f, { lease: true, leaseGraceMs: 20 });
      expect(original.subarray(0, got.length).equals(got), `response ${i}: ${got.length} bytes`).toBe(true);
      const outcome = result
        ? `${result.leased ? 'leased' : `unleased (${result.leaseReason})`} ${got.length === original.length ? 'full' : 'short'}`
        : (error as { code?: string }).code!;
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
    }
    const rounds = Number((await churn).stdout);
    console.log('leased sendFile under churn:', outcomes, `${rounds} rewrites`);
    expect(rounds).toBeGreaterThan(0);
    expect(outcomes['leased full']).toBeGreaterThan(0);
  }, 60_000);
});

/** Serves `f` once with sendFile(options) to a client that collects everything. */
async function sendOnce(f: string, options: SendFileOptions): Promise<{ got: Buffer; result?: SendResult; error?: unknown }> {
  let result: SendResult | undefined;
  let error: unknown;
  const server = net.createServer((socket) => {
    sendFile(socket, f, options).then((r) => {
      result = r;
      socket.end();
    }, (e) => {
      error = e;
      socket.destroy();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const got = await new Promise<Buffer>((resolve) => {
    const chunks: Buffer[] = [];
    const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    client.on('data', (c) => chunks.push(c));
    client.on('error', () => {});
    client.on('close', () => resolve(Buffer.concat(chunks)));
  });
  server.close();
  return { got, result, error };
}

describe.runIf(FALLBACK)('leases without the binding', () => {
  it('reject with ERR_ZEROCOPY_UNSUPPORTED', async () => {
    await expect(acquireLease(file('fallback'), 'read')).rejects.toMatchObject({ code: 'ERR_ZEROCOPY_UNSUPPORTED' });
    expect(() => getLease(0)).toThrow(expect.objectContaining({ code: 'ERR_ZEROCOPY_UNSUPPORTED' }));
  });
});

