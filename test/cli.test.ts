// `zerocopy serve` as a user runs it: a real child process (bin/zerocopy.js over lib/) on 127.0.0.1, port 0;
// its log on stdout, its signals sent by the test, its answers fetched over real sockets.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FALLBACK, tempDir } from './helpers';

const repo = path.resolve(__dirname, '..');
const bin = path.join(repo, 'bin', 'zerocopy.js');
const { version } = JSON.parse(fs.readFileSync(path.join(repo, 'package.json'), 'utf8')) as { version: string };
const TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /;
const BIG = 100 * 1024 * 1024;

const root = tempDir();
let bigSha256: string;

beforeAll(() => {
  // 100 MiB: one random MiB a hundred times, so that the digest checks order as well as length.
  const mib = randomBytes(1024 * 1024);
  const hash = createHash('sha256');
  const fd = fs.openSync(path.join(root, 'big.bin'), 'w');
  for (let i = 0; i < 100; i++) {
    fs.writeSync(fd, mib);
    hash.update(mib);
  }
  fs.closeSync(fd);
  bigSha256 = hash.digest('hex');
  fs.writeFileSync(path.join(root, '<script>'), 'hostile name\n');
  fs.writeFileSync(path.join(root, '.secret'), 'dotfile\n');
  fs.mkdirSync(path.join(root, 'sub dir'));
  fs.writeFileSync(path.join(root, 'sub dir', 'a.txt'), 'a\n');
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (err as { code?: number }).code ?? null : 0, stdout, stderr });
    });
  });
}

interface Server {
  child: ChildProcess;
  port: number;
  lines: string[];
  /** Resolves with the first log line matching `pattern` (already logged or to come). */
  line(pattern: RegExp): Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const started: ChildProcess[] = [];
afterEach(() => {
  for (const child of started.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

async function serve(args: string[], dir = root): Promise<Server> {
  const child = spawn(process.execPath, [bin, 'serve', dir, '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  const lines: string[] = [];
  const waiting: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  let rest = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (rest + chunk).split('\n');
    rest = parts.pop()!;
    for (const l of parts) {
      lines.push(l);
      for (const w of waiting.filter((x) => x.pattern.test(l))) {
        waiting.splice(waiting.indexOf(w), 1);
        w.resolve(l);
      }
    }
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  const line = (pattern: RegExp) => {
    const seen = lines.find((l) => pattern.test(l));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no log line ${pattern} in 30 s; log:\n${lines.join('\n')}\n${stderr}`)), 30_000);
      waiting.push({ pattern, resolve: (l) => (clearTimeout(timer), resolve(l)) });
    });
  };
  const serving = await line(/Serving .* at http:\/\/127\.0\.0\.1:\d+\//);
  return { child, port: Number(/:(\d+)\/$/.exec(serving.split(' ').find((w) => w.startsWith('http'))!)![1]), lines, line, exited };
}

interface Fetched {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One request on its own connection. */
function fetch(port: number, urlPath: string, method = 'GET', headers: http.OutgoingHttpHeaders = {}): Promise<Fetched> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: urlPath, method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** A download of big.bin that stops reading after the headers, until `resume()`. */
interface Downloaded {
  bytes: number;
  sha256: string;
  error?: string;
}

function pausedDownload(port: number): Promise<{ resume: () => Promise<Downloaded> }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/big.bin', agent: false }, (res) => {
      res.pause();
      const hash = createHash('sha256');
      let bytes = 0;
      const outcome = new Promise<Downloaded>((done) => {
        res.on('data', (c: Buffer) => {
          bytes += c.length;
          hash.update(c);
        });
        res.on('end', () => done({ bytes, sha256: hash.digest('hex') }));
        res.on('error', (err: NodeJS.ErrnoException) => done({ bytes, sha256: '', error: err.code ?? err.message }));
        res.on('aborted', () => done({ bytes, sha256: '', error: 'aborted' }));
      });
      resolve({
        resume: () => {
          res.resume();
          return outcome;
        },
      });
    });
    req.on('error', reject);
  });
}

function connectRefused(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

describe('zerocopy --version, --help and bad arguments', () => {
  it('prints the version with --version and -v', async () => {
    for (const flag of ['--version', '-v']) {
      const { code, stdout } = await run([flag]);
      expect(code, flag).toBe(0);
      expect(stdout.trim(), flag).toBe(version);
    }
  });

  it('lists every option with its short form and its default under --help and -h', async () => {
    const expected: [string, string, string | undefined][] = [
      ['-p', '--port', '8080'], ['-H', '--host', '127.0.0.1'], ['-w', '--workers', '1'], ['-d', '--drain-timeout', '10'],
      ['-m', '--max-age', 'none'], ['-L', '--lease', 'off'], ['-f', '--file-cache', '128'],
      ['-z', '--precompressed', 'off'], ['-s', '--spa', 'off'], ['-l', '--listing', 'off'], ['-c', '--cors', 'off'],
      ['-q', '--quiet', 'off'], ['-h', '--help', undefined], ['-v', '--version', undefined],
    ];
    for (const flag of ['--help', '-h']) {
      const { code, stdout } = await run([flag]);
      expect(code, flag).toBe(0);
      expect(stdout).toContain('Usage: zerocopy serve [dir]');
      const optionLines = stdout.split('\n').filter((l) => /^\s+-\w, --/.test(l));
      expect(optionLines.map((l) => l.trim().split(/[ ,]+/).slice(0, 2))).toEqual(expected.map(([s, l]) => [s, l]));
      for (const [, long, byDefault] of expected) {
        const l = optionLines.find((x) => x.includes(`${long} `) || x.endsWith(long))!;
        if (byDefault === undefined) expect(l).not.toContain('(default');
        else expect(l).toContain(`(default: ${byDefault})`);
      }
    }
  });

  it('refuses an unknown option and a bad value in one line, exit 2', async () => {
    const unknown = await run(['serve', '--bogus']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^zerocopy: Unknown option '--bogus'/);
    expect(unknown.stderr).not.toMatch(/\n\s+at /);
    const badWorkers = await run(['serve', root, '--workers', 'many']);
    expect(badWorkers.code).toBe(2);
    expect(badWorkers.stderr).toMatch(/^zerocopy: --workers must be/);
  });

  it('says in one line, exit 1, that ZEROCOPY_REQUIRE_NATIVE finds no addon', async () => {
    const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile(process.execPath, [bin, '--version'],
        { timeout: 20_000, env: { ...process.env, ZEROCOPY_REQUIRE_NATIVE: '1', ZEROCOPY_FORCE_FALLBACK: '1' } },
        (err, _stdout, stderr) => resolve({ code: err ? (err as { code?: number }).code ?? null : 0, stderr }));
    });
    expect(code).toBe(1);
    expect(stderr).toBe('zerocopy: ZEROCOPY_REQUIRE_NATIVE=1 but the native addon is not in use: ' +
      'forced off by ZEROCOPY_FORCE_FALLBACK=1\n');
  });

  it('refuses a --drain-timeout beyond what setTimeout can wait (2147483 s), exit 2', async () => {
    const { code, stderr } = await run(['serve', root, '--drain-timeout', '2147484']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/^zerocopy: --drain-timeout must be seconds from 0 to 2147483, got 2147484\n/);
  });

  it('takes numbers as plain digits only: anything else is one line, exit 2', async () => {
    // Worker counts that old code, accepting them, would fork few processes for (1e6 is the same rule).
    const bad: [string, string][] = [
      ['--workers', '1e0'], ['--workers', '0x2'], ['--workers', ' 2 '], ['--workers', '2.0'],
      ['--port', ''], ['--port', '0x50'], ['--max-age', '1e21'], ['--max-age', '1000000000000000000000'],
      ['--file-cache', '0'], ['--file-cache', 'none'], ['--file-cache', '65537'],
    ];
    const runs = await Promise.all(bad.map(([flag, value]) => run(['serve', root, flag, value])));
    runs.forEach(({ code, stderr }, i) => {
      const [flag, value] = bad[i];
      expect(code, `${flag} ${JSON.stringify(value)}`).toBe(2);
      expect(stderr, `${flag} ${JSON.stringify(value)}`).toMatch(new RegExp(`^zerocopy: ${flag} must be`));
      expect(stderr.split('\n').filter(Boolean)).toHaveLength(2);
    });
  });
});

describe('zerocopy serve', () => {
  it('logs every line with a timestamp, and answers with the file', async () => {
    const server = await serve([]);
    const got = await fetch(server.port, '/%3Cscript%3E');
    expect(got.status).toBe(200);
    expect(got.body.toString()).toBe('hostile name\n');
    await server.line(/GET \/%3Cscript%3E 200 13 /);
    server.child.kill('SIGTERM');
    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect(server.lines.at(-1)).toMatch(/ stopped$/);
    for (const l of server.lines) expect(l).toMatch(TIMESTAMP);
  });

  it('on SIGINT stops accepting, lets a 100 MB download in flight finish, then logs "stopped"', async () => {
    const server = await serve(['--drain-timeout', '60']);
    const download = await pausedDownload(server.port);
    server.child.kill('SIGINT');
    await server.line(/stopping: no new connections; 1 response\(s\) in flight/);
    expect(await connectRefused(server.port)).toBe('ECONNREFUSED');
    const got = await download.resume();
    expect(got).toEqual({ bytes: BIG, sha256: bigSha256 });
    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect(server.lines.some((l) => / GET \/big\.bin 200 104857600 /.test(l))).toBe(true);
    expect(server.lines.at(-1)).toMatch(/ stopped$/);
  });

  it('cuts a response still running at --drain-timeout, logs it, then logs "stopped"', async () => {
    const server = await serve(['--drain-timeout', '0.5', '--quiet']);
    const download = await pausedDownload(server.port);
    server.child.kill('SIGTERM');
    const cut = await server.line(/GET \/big\.bin 200 \d+ - \S+ \(cut at the drain timeout\)$/);
    expect(cut).toMatch(TIMESTAMP);
    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect(server.lines.at(-1)).toMatch(/ stopped$/);
    const got = await download.resume();
    expect(got.error).toBeDefined();
    expect(got.bytes).toBeLessThan(BIG);
  });

  it('with nothing in flight, stops at once on SIGINT although a connection holds half a request', async () => {
    const server = await serve(['--drain-timeout', '600', '--quiet']);
    const socket = net.connect(server.port, '127.0.0.1');
    const closed = new Promise((resolve) => socket.on('close', resolve));
    socket.on('error', () => {});
    await new Promise((resolve) => socket.on('connect', resolve));
    socket.write('GET /sub%20dir/a.txt HTTP/1.1\r\nHost:');
    // Time for the server to accept it and read the bytes (setup only: an early signal would not fail the test).
    await new Promise((resolve) => setTimeout(resolve, 300));
    server.child.kill('SIGINT');
    const timeout = new Promise((resolve) => setTimeout(() => resolve('still running after 20 s'), 20_000).unref());
    expect(await Promise.race([server.exited, timeout])).toEqual({ code: 0, signal: null });
    await closed;
  });

  it('exits at once on a second signal during the drain', async () => {
    const server = await serve(['--drain-timeout', '600']);
    const download = await pausedDownload(server.port);
    server.child.kill('SIGINT');
    await server.line(/stopping:/);
    server.child.kill('SIGINT');
    expect(await server.exited).toEqual({ code: 130, signal: null });
    expect(server.lines.at(-1)).toMatch(/stopped at once on a second SIGINT; 1 response\(s\) cut$/);
    expect((await download.resume()).bytes).toBeLessThan(BIG);
  });

  it('--workers 2 answers from two processes through node:cluster, and stops them all', async () => {
    const server = await serve(['--workers', '2']);
    expect(server.lines[0]).toMatch(/with 2 workers$/);
    const pids = new Set<string>();
    for (let i = 0; i < 20 && pids.size < 2; i++) {
      expect((await fetch(server.port, `/sub%20dir/a.txt?${i}`)).body.toString()).toBe('a\n');
      pids.add(/\[worker \d+ pid (\d+)\]/.exec(await server.line(new RegExp(`GET /sub%20dir/a\\.txt\\?${i} 200`)))![1]);
    }
    expect(pids.size).toBe(2);
    expect(pids.has(String(server.child.pid))).toBe(false);
    server.child.kill('SIGTERM');
    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect(server.lines.at(-1)).toMatch(/ stopped$/);
    for (const pid of pids) expect(() => process.kill(Number(pid), 0), pid).toThrow(expect.objectContaining({ code: 'ESRCH' }));
  });

  it('--listing never lists a directory outside the root that a symlink swapped in after the check points to', async () => {
    const served = tempDir();
    const outside = tempDir();
    try {
      fs.writeFileSync(path.join(outside, 'outside-secret'), 'x');
      fs.mkdirSync(path.join(served, 'swap-dir'));
      fs.writeFileSync(path.join(served, 'swap-dir', 'inside.txt'), 'x');
      fs.symlinkSync(outside, path.join(served, 'swap-link'));
      const server = await serve(['--listing', '--quiet'], served);
      // Bounded: 4 s of renames, in a child so that the server's event loop and this one stay free.
      const swapper = spawn(process.execPath, ['-e', `
        const fs = require('fs'); const d = ${JSON.stringify(served)} + '/';
        for (const end = Date.now() + 4000; Date.now() < end;) {
          fs.renameSync(d + 'swap-dir', d + 'swap'); fs.renameSync(d + 'swap', d + 'swap-dir');
          fs.renameSync(d + 'swap-link', d + 'swap'); fs.renameSync(d + 'swap', d + 'swap-link');
        }`], { stdio: 'ignore' });
      started.push(swapper);
      const swapped = new Promise((resolve) => swapper.on('exit', resolve));
      let done = false;
      void swapped.then(() => (done = true));
      let listedInside = 0;
      for (let i = 0; i < 20_000 && !done; i++) {
        const { status, body } = await fetch(server.port, '/swap/');
        expect(body.toString()).not.toContain('outside-secret');
        if (status === 200) listedInside++;
      }
      await swapped;
      expect(listedInside).toBeGreaterThan(0);
    } finally {
      fs.rmSync(served, { recursive: true, force: true });
      fs.rmSync(outside, { recursive: true, force: true });
    }
  });

  it('--listing reads at most 5000 entries of a directory, lists those sorted, and says the rest were left out', async () => {
    const served = tempDir();
    try {
      fs.mkdirSync(path.join(served, 'many'));
      for (let i = 0; i <= 5000; i++) fs.writeFileSync(path.join(served, 'many', `f${String(i).padStart(5, '0')}`), '');
      const server = await serve(['--listing', '--quiet'], served);
      const { status, body } = await fetch(server.port, '/many/');
      expect(status).toBe(200);
      const names = [...body.toString().matchAll(/<li><a href="[^"]*">([^<]*)<\/a><\/li>/g)].map((m) => m[1]);
      expect(names).toHaveLength(1 + 5000);
      expect(names[0]).toBe('../');
      expect(names.slice(1)).toEqual([...names.slice(1)].sort());
      expect(body.toString()).toContain('<p>Only the first 5000 entries read are listed; the rest were left out.</p>');
      expect(body.toString()).toMatch(/<\/ul>\n<p>Only .*<\/p>\n<\/body><\/html>\n$/);
    } finally {
      fs.rmSync(served, { recursive: true, force: true });
    }
  });

  it('--listing serves an escaped HTML index; without it a directory without index.html is a 404', async () => {
    const plain = await serve([]);
    expect((await fetch(plain.port, '/')).status).toBe(404);
    plain.child.kill('SIGTERM');
    await plain.exited;

    const server = await serve(['--listing']);
    const index = await fetch(server.port, '/');
    expect(index.status).toBe(200);
    expect(index.headers['content-type']).toBe('text/html; charset=utf-8');
    const html = index.body.toString();
    expect(html).toContain('<a href="./%3Cscript%3E">&lt;script&gt;</a>');
    expect(html).toContain('<a href="./sub%20dir/">sub dir/</a>');
    expect(html).not.toContain('<script>');
    expect(html).not.toContain('.secret');
    const sub = await fetch(server.port, '/sub%20dir/');
    expect(sub.body.toString()).toContain('<a href="./a.txt">a.txt</a>');
    expect(sub.body.toString()).toContain('<a href="../">../</a>');
    // The link is the file's own URL.
    expect((await fetch(server.port, '/%3Cscript%3E')).body.toString()).toBe('hostile name\n');
    // Confinement stays the static handler's: a dot segment is refused before any listing.
    expect((await fetch(server.port, '/sub%20dir/../../')).status).not.toBe(200);
  });

  it('--cors and --max-age set their headers; --cors answers a preflight', async () => {
    const server = await serve(['--cors', '--max-age', '60']);
    const got = await fetch(server.port, '/sub%20dir/a.txt');
    expect(got.headers['access-control-allow-origin']).toBe('*');
    expect(got.headers['cache-control']).toBe('public, max-age=60');
    const preflight = await fetch(server.port, '/sub%20dir/a.txt', 'OPTIONS');
    expect(preflight.status).toBe(204);
    expect(preflight.headers['access-control-allow-methods']).toBe('GET, HEAD');

    const plain = await serve([]);
    const bare = await fetch(plain.port, '/sub%20dir/a.txt');
    expect(bare.headers['access-control-allow-origin']).toBeUndefined();
    expect(bare.headers['cache-control']).toBeUndefined();
  });

  it('--precompressed serves x.gz beside x to a client that accepts gzip; --spa answers unknown HTML GETs with index.html', async () => {
    const app = path.join(root, 'spa');
    fs.mkdirSync(app, { recursive: true });
    const script = Buffer.from('console.log("app");\n'.repeat(100));
    fs.writeFileSync(path.join(app, 'app.js'), script);
    fs.writeFileSync(path.join(app, 'app.js.gz'), zlib.gzipSync(script));
    fs.writeFileSync(path.join(app, 'index.html'), '<p>the app</p>\n');
    const server = await serve(['--precompressed', '--spa'], app);
    const gz = await fetch(server.port, '/app.js', 'GET', { 'accept-encoding': 'gzip' });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gz.headers['content-type']).toMatch(/javascript/);
    expect(zlib.gunzipSync(gz.body).equals(script)).toBe(true);
    expect((await fetch(server.port, '/app.js')).body.equals(script)).toBe(true);
    const route = await fetch(server.port, '/some/client/route', 'GET', { accept: 'text/html' });
    expect([route.status, route.body.toString()]).toEqual([200, '<p>the app</p>\n']);
    expect((await fetch(server.port, '/missing.png', 'GET', { accept: 'image/png' })).status).toBe(404);

    const plain = await serve([], app);
    expect((await fetch(plain.port, '/app.js', 'GET', { 'accept-encoding': 'gzip' })).headers['content-encoding']).toBeUndefined();
    expect((await fetch(plain.port, '/some/client/route', 'GET', { accept: 'text/html' })).status).toBe(404);
  });

  it.skipIf(FALLBACK)('--lease cuts a response whose file another process opens for writing mid-send', async () => {
    const server = await serve(['--lease']);
    const download = await pausedDownload(server.port);
    // The writer blocks in open() until the server lets the lease go (after its 1 s grace), so it runs apart.
    const opener = `const fs = require('fs'); fs.closeSync(fs.openSync(${JSON.stringify(path.join(root, 'big.bin'))}, 'r+'))`;
    await new Promise<void>((resolve, reject) => {
      execFile(process.execPath, ['-e', opener], { timeout: 60_000 }, (err) => (err ? reject(err) : resolve()));
    });
    // (Under a lease a peer on the same host gets a copy, so the line says fallback (lease-copy).)
    await server.line(/GET \/big\.bin 200 \d+ .* ERR_LEASE_BROKEN$/);
    expect((await download.resume()).bytes).toBeLessThan(BIG);
  });
});
