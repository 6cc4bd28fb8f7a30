// Issue 17, the bench: breaks found by a hostile tester. The HTTP load generator (bench/native/load.c and
// bench/lib/load.mjs) against servers on 127.0.0.1 whose answers are known, the bench run without the addon or
// with an nginx that does not start, the "no row is ever 0, NaN or Infinity" promise, the chart, and the
// committed reference run.
import { execFile, execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FALLBACK, tempDir } from './helpers';

const repo = path.resolve(__dirname, '..');
const dir = tempDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

type Row = Record<string, unknown>;
const bench = (args: string[], env: NodeJS.ProcessEnv = {}, timeout = 120_000) =>
  spawnSync(process.execPath, [path.join(repo, 'bench', 'run.mjs'), ...args],
    { cwd: repo, encoding: 'utf8', timeout, env: { ...process.env, ...env } });

type Answer = (socket: net.Socket, request: number, connection: number) => void;

/** A server on 127.0.0.1 that calls `answer` for each request (a head ending in a blank line) it reads. */
async function server(answer: Answer): Promise<{ url: string; close: () => void }> {
  const sockets = new Set<net.Socket>();
  let connections = 0;
  const srv = net.createServer((socket) => {
    const connection = connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket)).on('error', () => {});
    let pending = '';
    let request = 0;
    socket.on('data', (chunk) => {
      pending += chunk.toString('latin1');
      for (let end; (end = pending.indexOf('\r\n\r\n')) !== -1;) {
        pending = pending.slice(end + 4);
        answer(socket, request++, connection);
      }
    });
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/file`,
    close: () => {
      srv.close();
      for (const s of sockets) s.destroy();
    },
  };
}

describe.skipIf(FALLBACK)('bench/native/load.c against hostile servers', () => {
  const run = promisify(execFile);
  let program: string;
  beforeAll(() => {
    program = path.join(dir, 'load');
    execFileSync(process.env.CC ?? 'cc', ['-O2', '-o', program, path.join(repo, 'bench', 'native', 'load.c')]);
  });
  async function load(url: string, args: string[]) {
    const { stdout } = await run(program, [...args, url], { timeout: 20_000 });
    return JSON.parse(stdout);
  }

  it('counts a response with 1xx interim responses before it (Node\'s res.writeEarlyHints) once, as the 2xx it is', async () => {
    // RFC 9110 15.2: a client must accept 1xx responses before the final one. load.c counts a 103 as a complete
    // (non-2xx) response and then reads the real answer as the answer to its next request, or as bytes beyond
    // a body (a bad response) when both arrive together.
    const body = Buffer.alloc(3000, 'x');
    let finished = 0;
    const srv = http.createServer((_req, res) => {
      res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
      res.on('finish', () => finished++);
      res.writeHead(200, { 'Content-Length': body.length }).end(body);
    });
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    try {
      const r = await load(`http://127.0.0.1:${(srv.address() as net.AddressInfo).port}/`, ['-c', '4', '-d', '1']);
      expect({ non2xx: r.non2xx, badResponses: r.badResponses, socketErrors: r.socketErrors }).toEqual(
        { non2xx: 0, badResponses: 0, socketErrors: 0 });
      // Every response the server finished, but for at most one in flight per connection at the deadline.
      expect(r.requests).toBeLessThanOrEqual(finished);
      expect(r.requests).toBeGreaterThanOrEqual(finished - 4);
    } finally {
      srv.close();
      srv.closeAllConnections();
    }
  });

  it('counts a 100 Continue and its final response, written together, as one response', async () => {
    const body = Buffer.alloc(3000, 'x');
    let written = 0;
    const srv = await server((socket) => socket.write(Buffer.concat([
      Buffer.from(`HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`), body]), () => written++));
    try {
      const r = await load(srv.url, ['-c', '2', '-d', '0.5']);
      expect(r.badResponses).toBe(0);
      expect(r.non2xx).toBe(0);
      expect(r.requests).toBeGreaterThanOrEqual(written - 2);
      expect(r.requests).toBeGreaterThan(0);
    } finally {
      srv.close();
    }
  });

  it('reports bytes beyond the body as a bad response even when they come after it, not as the next request\'s answer', async () => {
    // load.c's header says bytes beyond the body are a bad response. A server that answers each request twice
    // (two complete 64 KiB responses in one write) has its unsolicited second answer taken as the answer to
    // load.c's next request: no error at all, and latencies of the backlog (tens of µs).
    const body = Buffer.alloc(64 * 1024, 'x');
    const one = Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`), body]);
    let requests = 0;
    let written = 0;
    const srv = await server((socket) => {
      requests++;
      socket.write(Buffer.concat([one, one]), () => (written += 2));
    });
    try {
      const r = await load(srv.url, ['-c', '2', '-d', '0.5']);
      expect(written).toBeGreaterThanOrEqual(2 * requests - 4);
      expect(r.badResponses, JSON.stringify(r)).toBeGreaterThan(0);
    } finally {
      srv.close();
    }
  });

  it('does not count a response whose framing is invalid: conflicting Content-Lengths, junk after the digits, a 4-digit status', async () => {
    const body = Buffer.alloc(3000, 'x');
    const heads: [string, string][] = [
      // RFC 9112 6.3: differing Content-Length values are an unrecoverable framing error.
      ['two Content-Lengths that differ', `HTTP/1.1 200 OK\r\nContent-Length: 7\r\nContent-Length: ${body.length}\r\n\r\n`],
      ['a Content-Length with junk after its digits', `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}xyz\r\n\r\n`],
      ['a Content-Length list of differing values', `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}, 7\r\n\r\n`],
      ['a status code of four digits', `HTTP/1.1 2000 OK\r\nContent-Length: ${body.length}\r\n\r\n`],
    ];
    for (const [what, head] of heads) {
      const srv = await server((socket) => socket.write(Buffer.concat([Buffer.from(head), body])));
      try {
        const r = await load(srv.url, ['-c', '2', '-d', '0.3']);
        expect(r.requests, what).toBe(0);
        expect(r.badResponses, what).toBeGreaterThan(0);
      } finally {
        srv.close();
      }
    }
  });

  it('closes after a response whose Connection header lists close among other tokens (keep-alive, close)', async () => {
    const body = Buffer.alloc(3000, 'x');
    const srv = await server((socket) => socket.end(Buffer.concat([
      Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nConnection: keep-alive, close\r\n\r\n`), body])));
    try {
      const r = await load(srv.url, ['-c', '2', '-d', '0.5']);
      expect(r.requests).toBeGreaterThan(2);
      expect({ socketErrors: r.socketErrors, badResponses: r.badResponses }).toEqual({ socketErrors: 0, badResponses: 0 });
    } finally {
      srv.close();
    }
  });

  it('raises its open-file limit to what -c needs, or refuses with the usage line (exit 2) when the hard limit is lower', async () => {
    const body = Buffer.alloc(300, 'x');
    const srv = await server((socket) => socket.write(Buffer.concat([
      Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`), body])));
    try {
      const under = (ulimit: string) => spawnSync('bash', ['-c', `ulimit ${ulimit} 40 && exec "$0" -c 100 -d 0.3 "$1"`, program, srv.url],
        { encoding: 'utf8', timeout: 10_000 });
      const soft = under('-Sn');
      expect(soft.status, soft.stderr).toBe(0);
      expect(JSON.parse(soft.stdout)).toMatchObject({ connections: 100, connectErrors: 0, socketErrors: 0 });
      const hard = under('-n');
      expect(hard.status).toBe(2);
      expect(hard.stdout).toBe('');
      expect(hard.stderr).toMatch(/-c 100 needs 116 file descriptors/);
      expect(hard.stderr.trimEnd().split('\n').at(-1)).toMatch(/^usage: load -c <connections/);
    } finally {
      srv.close();
    }
  });
});

describe.skipIf(FALLBACK)('bench/lib/load.mjs, the bench\'s load runs', () => {
  it('reports a server that stops answering as errors in a run as short as the bench\'s (1 s), not as a slower figure', async () => {
    // The README: "a server that closes, resets, stalls or answers garbage is counted as errors". The bench's
    // runs are 0.5 s (--smoke), 1 s (quick) and 3 s (--full) but its timeout is 10 s: a server that answers one
    // connection in four, or each connection once and then never again, yields requests > 0 and errors: 0, and
    // the bench prints its requests/s as a figure.
    const { load } = await import(path.join(repo, 'bench', 'lib', 'load.mjs'));
    const body = Buffer.alloc(3000, 'x');
    const response = Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`), body]);
    const answers: [string, Answer][] = [
      ['answers only its first connection', (socket, _i, connection) => connection === 0 && socket.write(response)],
      ['answers each connection once, then never again', (socket, i) => i === 0 && socket.write(response)],
    ];
    for (const [what, answer] of answers) {
      const srv = await server(answer);
      try {
        const r = await load(srv.url, { connections: 4, seconds: 1 });
        expect(r.requests, what).toBeGreaterThan(0);
        expect(r.errors, `${what}: ${JSON.stringify(r)}`).toBeGreaterThan(0);
      } finally {
        srv.close();
      }
    }
  });
});

describe('bench/lib/load.mjs, finding wrk', () => {
  it('takes a wrk that cannot be run (EACCES) for not installed', () => {
    const bin = path.join(dir, 'unrunnable-wrk-bin');
    fs.mkdirSync(bin, { recursive: true });
    fs.writeFileSync(path.join(bin, 'wrk'), '#!/bin/sh\nexit 1\n', { mode: 0o644 });
    const module = JSON.stringify(path.join(repo, 'bench', 'lib', 'load.mjs'));
    const r = spawnSync(process.execPath, ['--input-type=module', '-e',
      `const { wrkInstalled } = await import(${module}); console.log(wrkInstalled());`],
    { encoding: 'utf8', timeout: 20_000, env: { ...process.env, PATH: bin } });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('false');
  });
});

describe.skipIf(FALLBACK)('bench/lib/http-server.mjs, the bench\'s servers', () => {
  it('says a server error on stderr (a file truncated while serveFile sends it), rather than swallowing it', async () => {
    // serveFile cuts the response and reports ERR_FILE_TRUNCATED in its result's `error`; the bench's server
    // ignored its result and .catch(() => {})'d its rejections: nothing said, and the bench saw only a slower server.
    const root = path.join(dir, 'truncated-root');
    fs.mkdirSync(root, { recursive: true });
    const file = path.join(root, 'big.bin');
    const size = 64 << 20;
    fs.writeFileSync(file, Buffer.alloc(size, 'z'));
    const child = spawn(process.execPath, [path.join(repo, 'bench', 'lib', 'http-server.mjs'), 'serveFile', root],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    try {
      const port = Number(await new Promise<string>((resolve) => child.stdout.once('data', (chunk) => resolve(String(chunk)))));
      const socket = net.connect(port, '127.0.0.1');
      socket.write('GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n');
      let received = 0;
      const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()).on('error', () => {}));
      // The first bytes, then no reading: the server's send waits on a full socket while the file shrinks.
      await new Promise<void>((resolve) => socket.once('data', (chunk) => { received += chunk.length; socket.pause(); resolve(); }));
      await new Promise((resolve) => setTimeout(resolve, 200));
      fs.truncateSync(file, 1 << 20);
      socket.on('data', (chunk) => (received += chunk.length)).resume();
      await closed;
      expect(received).toBeLessThan(size);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(stderr).toContain('ERR_FILE_TRUNCATED');
    } finally {
      child.kill();
    }
  });
});

describe.skipIf(FALLBACK)('npm run bench where something is missing', () => {
  it('without the addon (a fresh clone with no compiler), skips what needs it with why instead of crashing', () => {
    // On a fresh clone with no compiler on PATH, `npm install` falls back (exit 0) and `npm run bench` then dies
    // in the lease scenario (acquireLease is not available), having written no results and no chart at all.
    // ZEROCOPY_FORCE_FALLBACK=1 turns the addon off the same way.
    const json = path.join(dir, 'nofallback.json');
    const r = bench(['--smoke', '--only', 'lease', '--only', 'lease-cost', '--json', json], { ZEROCOPY_FORCE_FALLBACK: '1' });
    expect(r.stderr).not.toMatch(/acquireLease is not available[\s\S]*at /);
    expect(r.status, r.stderr.slice(0, 2000)).toBe(0);
    for (const name of ['lease', 'lease-cost']) {
      const { results } = JSON.parse(fs.readFileSync(path.join(dir, `nofallback-${name}.json`), 'utf8')) as { results: Row[] };
      expect(results.length, name).toBeGreaterThan(0);
      for (const row of results.filter((x) => x.skipped)) expect(r.stdout).toContain(String(row.skipped));
    }
  });

  it('with an nginx that is installed but does not start, skips nginx with why instead of crashing the whole run', () => {
    // E.g. nginx-light installed in a container and the bench run as a non-root user: nginx exits at once with
    // `mkdir() "/var/lib/nginx/fastcgi" failed (13: Permission denied)`; startNginx throws a plain Error
    // ('nginx did not start') and the bench dies with no results for any scenario.
    const bin = path.join(dir, 'fake-nginx-bin');
    fs.mkdirSync(bin, { recursive: true });
    fs.writeFileSync(path.join(bin, 'nginx'), '#!/bin/sh\n[ "$1" = -v ] && { echo "nginx version: nginx/1.22.1" >&2; exit 0; }\n' +
      'echo \'nginx: [emerg] mkdir() "/var/lib/nginx/fastcgi" failed (13: Permission denied)\' >&2\nexit 1\n', { mode: 0o755 });
    const json = path.join(dir, 'nginx.json');
    const r = bench(['--smoke', '--only', 'http', '--json', json], { PATH: `${bin}:${process.env.PATH}` });
    expect(r.stderr).not.toContain('nginx did not start\n    at ');
    expect(r.status, r.stderr.slice(0, 2000)).toBe(0);
    const { results } = JSON.parse(fs.readFileSync(path.join(dir, 'nginx-http.json'), 'utf8')) as { results: Row[] };
    const nginx = results.find((x) => x.method === 'nginx (sendfile on)');
    expect(nginx?.skipped).toEqual(expect.any(String));
    expect(results.some((x) => x.method === 'serveFile' && !x.skipped)).toBe(true);
  });

  it('prints no 0 for a figure it cannot measure: the direct scenario\'s page-cache figures without the addon', () => {
    // residency().cached is null without the binding; direct.mjs computes 100 * null / size = 0 and prints
    // "0%" of the hot set cached (and 0 MiB left in the cache), in the table and in the JSON, with no skip.
    const json = path.join(dir, 'direct.json');
    const r = bench(['--smoke', '--only', 'direct', '--json', json], { ZEROCOPY_FORCE_FALLBACK: '1' });
    expect(r.status, r.stderr.slice(0, 2000)).toBe(0);
    const { results } = JSON.parse(fs.readFileSync(path.join(dir, 'direct-direct.json'), 'utf8')) as { results: Row[] };
    for (const row of results.filter((x) => !x.skipped)) {
      for (const key of ['hotCachedPct', 'coldCachedMiB', 'writtenCachedMiB']) {
        if (key in row) expect(row[key], `${row.method} ${key}`).not.toBe(0);
      }
    }
    expect(r.stdout).not.toMatch(/ 0% /);
  });

  it('writes no null (a NaN or a none) in the crossover row when sendFile never pays off', () => {
    // Whether sendFile pays off depends on this machine's figures: 'the crossover scenario's answer' below checks
    // the never case on given figures.
    const json = path.join(dir, 'crossover.json');
    const r = bench(['--smoke', '--only', 'crossover', '--json', json], { ZEROCOPY_FORCE_FALLBACK: '1' });
    expect(r.status, r.stderr.slice(0, 2000)).toBe(0);
    const { results } = JSON.parse(fs.readFileSync(path.join(dir, 'crossover-crossover.json'), 'utf8')) as { results: Row[] };
    for (const row of results) {
      for (const [key, value] of Object.entries(row)) expect(value, `${row.method ?? ''} ${key}`).not.toBeNull();
    }
  });
});

describe.skipIf(FALLBACK)('npm run bench, its result files', () => {
  it('writes each scenario\'s results as it finishes: a run that dies later keeps them', async () => {
    // The results used to be written once every scenario had run: a crash (or a kill) in a later one lost all.
    const tmp = path.join(dir, 'killed-tmp');
    fs.mkdirSync(tmp, { recursive: true });
    const json = path.join(dir, 'killed.json');
    const child = spawn(process.execPath, [path.join(repo, 'bench', 'run.mjs'), '--smoke', '--runs', '3',
      '--only', 'crossover', '--only', 'direct', '--json', json], { cwd: repo, env: { ...process.env, TMPDIR: tmp } });
    let stdout = '';
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      if (stdout.includes('(crossover: ')) child.kill('SIGTERM'); // direct, the next scenario, is running
    });
    expect(await exited, stdout).toBe('SIGTERM');
    const { results } = JSON.parse(fs.readFileSync(path.join(dir, 'killed-crossover.json'), 'utf8')) as { results: Row[] };
    expect(results.filter((r) => r.method === 'sendFile').length).toBeGreaterThan(0);
    expect(fs.existsSync(path.join(dir, 'killed-direct.json'))).toBe(false);
  });

  it('refuses a --json that names no .json file (x.out would write x.out-<scenario>.json), before any setup', () => {
    const json = path.join(dir, 'results.out');
    const r = bench(['--smoke', '--only', 'lease', '--json', json]);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trimEnd().split('\n')).toEqual([expect.stringMatching(/^bench: --json must name a \.json file/)]);
    expect(fs.readdirSync(dir).filter((f) => f.startsWith('results.out'))).toEqual([]);
  });
});

describe('the crossover scenario\'s answer', () => {
  it('is a sentence, never a null, when sendFile costs more at every size measured', async () => {
    // The figures of a machine where sendFile never pays off (the run above gets them only on such a machine).
    const { crossoverRow } = await import(path.join(repo, 'bench', 'scenarios', 'crossover.mjs'));
    const rows = [1024, 16384].flatMap((size) => [
      { scenario: 'crossover', size, method: 'read+write', cpuUsPerFile: 5 },
      { scenario: 'crossover', size, method: 'sendFile', cpuUsPerFile: 6 },
    ]);
    const never = crossoverRow(rows, [1024, 16384]);
    expect(never).toEqual({ scenario: 'crossover', crossover: 'sendFile never costs less sender CPU per file here (1 KiB to 16 KiB)' });
    rows[3].cpuUsPerFile = 4;
    expect(crossoverRow(rows, [1024, 16384])).toEqual({ scenario: 'crossover', crossoverBytes: 16384,
      crossover: 'sendFile costs less sender CPU per file from 16 KiB up' });
  });
});

describe('the chart', () => {
  it('shows every note whole: a skipped case\'s reason is not cut off at the chart\'s edge', async () => {
    // What a run on a machine with no C compiler draws for the HTTP scenario: one footer line of 700+
    // characters in an 820 px wide SVG; from the first reason on, the text runs off the image.
    const { renderChart } = await import(path.join(repo, 'bench', 'lib', 'chart.mjs'));
    const why = 'no load generator: building bench/native/load.c failed: no C compiler (cc)';
    const methods = ['res.end(cachedBuffer)', 'createReadStream().pipe(res)', 'send', 'serveFile', 'serveFile, read+write body'];
    const results = [
      ...methods.map((method) => ({ scenario: 'http', title: 'HTTP static files, requests/s', baseline: 'res.end(cachedBuffer)', method, skipped: why })),
      { scenario: 'http', title: 'HTTP static files, requests/s', baseline: 'res.end(cachedBuffer)', method: 'nginx (sendfile on)',
        skipped: 'nginx is not installed (apt-get install nginx-light)' },
    ];
    const svg: string = renderChart({ results, date: new Date().toISOString(),
      machine: { cpus: 2, cpuModel: 'x', kernel: '6.1', node: process.version } });
    const width = Number(/width="(\d+)"/.exec(svg)?.[1]);
    for (const [, x, size, text] of svg.matchAll(/<text x="([\d.]+)"[^>]*class="(note|legend|title|axis)"[^>]*>([^<]*)<\/text>/g)) {
      // 11 px sans-serif averages well over 5 px a character.
      const px = size === 'title' ? 7 : 5;
      expect(Number(x) + text.length * px, text.slice(0, 80)).toBeLessThanOrEqual(width);
    }
    for (const method of methods) expect(svg).toContain(method);
  });
});

// bench/results/reference.{json,svg} and the README's HTTP table are regenerated together, from one run.
describe('the committed reference run', () => {
  it('comes from this bench: bench/results/reference.json\'s HTTP rows measured by load.c against res.end(cachedBuffer)', () => {
    // Issue 17: "The README's HTTP table and the committed reference chart come from the same run." The
    // committed reference.json/.svg are a run of 2026-11-22 by wrk with createReadStream as the baseline (64 MiB
    // at 16 connections, 1 s runs: 15-31 requests/s), without the lease-cost and direct scenarios, and with
    // receiverCpu: 0 rows; the README's HTTP table is a wrk run again, with figures that are not in it.
    const reference = JSON.parse(fs.readFileSync(path.join(repo, 'bench', 'results', 'reference.json'), 'utf8'));
    const httpRows = (reference.results as Row[]).filter((r) => r.scenario === 'http' && !r.skipped && !r.crossCheck);
    expect(httpRows.length).toBeGreaterThan(0);
    for (const row of httpRows) {
      expect(row, `${row.method} ${row.size}`).toMatchObject({ loadGenerator: 'bench/native/load.c', baseline: 'res.end(cachedBuffer)' });
    }
    const readme = fs.readFileSync(path.join(repo, 'README.md'), 'utf8');
    const table = readme.slice(readme.indexOf('HTTP static files under load (`--only http`'));
    const serveFileLine = /\n\| \*\*`serveFile`\*\* \|([^\n]*)/.exec(table)?.[1] ?? '';
    const figures = [...serveFileLine.matchAll(/\*\*([\d,]+) \(/g)].map((m) => Number(m[1].replace(/,/g, '')));
    expect(figures.length).toBeGreaterThan(0);
    const referenced = httpRows.filter((r) => r.method === 'serveFile').map((r) => Math.round(r.requestsPerSecond as number));
    for (const figure of figures) expect(referenced, `README serveFile ${figure} requests/s`).toContain(figure);
  });

  it('charts issue 17\'s chart: bench/results/reference.svg has one colour per method, spread bars, and names every scenario', () => {
    // The chart the README shows is the old renderer's: sendFile red in one panel and gold in the next, no
    // whiskers, and the crossover, event-loop, lease, lease-cost and direct scenarios neither drawn nor named.
    const svg = fs.readFileSync(path.join(repo, 'bench', 'results', 'reference.svg'), 'utf8');
    const colours = new Map<string, Set<string>>();
    for (const [, method, fill] of svg.matchAll(/<rect data-method="([^"]+)" [^>]*fill="(#[0-9a-f]{6})"/g)) {
      colours.set(method, (colours.get(method) ?? new Set()).add(fill));
    }
    expect(colours.size, 'bars that name their method').toBeGreaterThan(0);
    for (const [method, fills] of colours) expect([...fills], method).toHaveLength(1);
    expect(svg).toContain('class="spread"');
    const panels = [...svg.matchAll(/<g class="panel" data-scenario="([^"]+)">/g)].map((m) => m[1]);
    for (const name of ['file-to-socket', 'small-files', 'crossover', 'http', 'event-loop', 'relay', 'upload',
      'file-to-pipe', 'file-to-file', 'mmap-hash', 'mmap-scan', 'lease', 'lease-cost', 'direct']) {
      expect(panels.includes(name) || svg.includes(`not drawn: ${name}: `), name).toBe(true);
    }
  });
});
