// `npm run bench` as a newcomer runs it, in its smallest configuration: every scenario runs and prints its
// table, and the JSON and SVG it writes have the expected shape (not the numbers: timing belongs in bench/).
// And the bench's HTTP load generator (bench/native/load.c) against small servers on 127.0.0.1 whose answers
// are known: it counts exactly what was answered, and a server that fails is errors, never a hang.
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FALLBACK, tempDir } from './helpers';

const repo = path.resolve(__dirname, '..');
const dir = tempDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

type Row = Record<string, unknown>;

/** Every number in a row, nested ones included, with its path; JSON turns NaN and Infinity into null. */
function figures(value: unknown, at = ''): [string, number | null][] {
  if (value === null) return [[at, null]];
  if (typeof value === 'number') return [[at, value]];
  if (typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => figures(v, `${at}.${k}`));
  return [];
}

const SCENARIOS = ['file-to-socket', 'small-files', 'crossover', 'http', 'event-loop', 'relay', 'upload',
  'file-to-pipe', 'file-to-file', 'mmap-hash', 'mmap-scan', 'lease', 'lease-cost', 'direct'];

describe.skipIf(FALLBACK)('npm run bench', () => {
  it('runs every scenario (--smoke) and writes the JSON and the SVG chart', () => {
    const json = path.join(dir, 'run.json');
    const stdout = execFileSync(process.execPath, [path.join(repo, 'bench', 'run.mjs'), '--smoke', '--json', json],
      { cwd: repo, encoding: 'utf8', stdio: 'pipe', timeout: 180_000 });
    for (const name of SCENARIOS) expect(stdout).toContain(`(${name}: `);
    expect(stdout).toContain('sendFile costs less sender CPU per file from');
    expect(stdout).not.toMatch(/NaN|Infinity/);

    const report = JSON.parse(fs.readFileSync(json, 'utf8'));
    for (const row of report.results as Row[]) {
      for (const [at, n] of figures(row)) expect(Number.isFinite(n), `${row.scenario} ${row.method} ${at}`).toBe(true);
    }
    for (const name of SCENARIOS) {
      const own = JSON.parse(fs.readFileSync(path.join(dir, `run-${name}.json`), 'utf8'));
      expect(own.results, name).toEqual(report.results.filter((r: Row) => r.scenario === name));
      expect(fs.readFileSync(path.join(dir, `run-${name}.svg`), 'utf8'), name).toMatch(/^<svg xmlns=/);
    }
    expect(report.machine).toMatchObject({ cpus: expect.any(Number), kernel: expect.any(String), node: process.version });
    expect(new Set(report.results.map((r: { scenario: string }) => r.scenario))).toEqual(new Set(SCENARIOS));
    const throughput = report.results.filter((r: { ratio?: number }) => r.ratio !== undefined);
    for (const row of throughput) {
      expect(row).toMatchObject({ method: expect.any(String), size: expect.any(Number), baseline: expect.any(String) });
      expect(Number.isFinite(row.ratio)).toBe(true);
    }
    const baselines = throughput.filter((r: { method: string; baseline: string }) => r.method === r.baseline);
    for (const row of baselines) expect(row.ratio).toBe(1);

    const svg = fs.readFileSync(json.replace(/\.json$/, '.svg'), 'utf8');
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    const panels = [...svg.matchAll(/<g class="panel" data-scenario="([^"]+)">/g)].map((m) => m[1]);
    expect(new Set(panels)).toEqual(new Set(throughput.map((r: { scenario: string }) => r.scenario)));
    expect(svg.match(/<rect [^>]*><title>/g)?.length).toBe(throughput.length);
    expect((svg.match(/<g /g) ?? []).length).toBe((svg.match(/<\/g>/g) ?? []).length);
    // No scenario vanishes from the chart: the ones without ratios are named as not drawn.
    for (const name of SCENARIOS.filter((n) => !panels.includes(n))) expect(svg, name).toContain(`not drawn: ${name}: `);
    // A method has one colour in every panel.
    const colours = new Map<string, Set<string>>();
    for (const [, method, fill] of svg.matchAll(/<rect data-method="([^"]+)" [^>]*fill="(#[0-9a-f]{6})"><title>/g)) {
      colours.set(method, (colours.get(method) ?? new Set()).add(fill));
    }
    for (const [method, fills] of colours) expect([...fills], method).toHaveLength(1);
  });

  it('runs the HTTP scenario on its own load generator: every row finite and positive, the other scenarios\' files untouched', () => {
    const json = path.join(dir, 'http.json');
    const other = path.join(dir, 'http-file-to-file.json');
    fs.writeFileSync(other, 'an earlier run of another scenario\n');
    const stdout = execFileSync(process.execPath, [path.join(repo, 'bench', 'run.mjs'), '--only', 'http', '--smoke', '--json', json],
      { cwd: repo, encoding: 'utf8', stdio: 'pipe', timeout: 120_000 });
    expect(stdout).not.toMatch(/NaN|Infinity/);
    expect(fs.readFileSync(other, 'utf8')).toBe('an earlier run of another scenario\n');
    expect(fs.existsSync(json)).toBe(false); // only a run of every scenario writes the combined file

    const { results } = JSON.parse(fs.readFileSync(path.join(dir, 'http-http.json'), 'utf8')) as { results: Row[] };
    const measured = results.filter((r) => !r.skipped);
    expect(measured.map((r) => r.method)).toEqual(expect.arrayContaining(
      ['res.end(cachedBuffer)', 'createReadStream().pipe(res)', 'send', 'serveFile']));
    for (const row of measured) {
      expect(row).toMatchObject({ loadGenerator: 'bench/native/load.c', baseline: 'res.end(cachedBuffer)' });
      for (const key of ['requestsPerSecond', 'gbPerSecond', 'serverCpuUsPerRequest', 'ratio', 'ratioMin', 'ratioMax',
        'latencyP50Us', 'responsesPerConnection']) {
        expect(Number.isFinite(row[key]) && (row[key] as number) > 0, `${row.method} ${key} = ${row[key]}`).toBe(true);
      }
      expect(stdout).toContain(row.method as string);
    }
    expect(measured.find((r) => r.method === 'res.end(cachedBuffer)')?.ratio).toBe(1);
    for (const row of results.filter((r) => r.skipped)) expect(stdout).toContain(`skipped: ${row.method}: ${row.skipped}`);
  });

  it('uses only the package\'s public exports', () => {
    const files = fs.readdirSync(path.join(repo, 'bench'), { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.mjs'));
    for (const file of files) {
      const code = fs.readFileSync(path.join(repo, 'bench', file), 'utf8');
      for (const [, from] of code.matchAll(/from '([^']+)'/g)) {
        expect(from, `${file} imports ${from}`).toMatch(/^(node:|zerocopy$|\.\.?\/|send$)/);
      }
    }
  });
});

describe('npm run bench -- --help and bad flags', () => {
  const bench = (args: string[]) => spawnSync(process.execPath, [path.join(repo, 'bench', 'run.mjs'), ...args],
    { cwd: repo, encoding: 'utf8', timeout: 30_000 });

  it('lists every flag and every scenario under --help, and runs nothing', () => {
    for (const flag of ['--help', '-h']) {
      const run = bench([flag]);
      expect(run.status, flag).toBe(0);
      for (const name of ['--quick', '--full', '--only <scenario>', '--json <file>', '--runs <n>', '--smoke', '-h, --help']) {
        expect(run.stdout, name).toMatch(new RegExp(`^  ${name.replace(/[<>]/g, '\\$&')} `, 'm'));
      }
      for (const name of SCENARIOS) expect(run.stdout, name).toMatch(new RegExp(`^  ${name} +\\S`, 'm'));
      expect(run.stderr).toBe('');
    }
  });

  it('answers an unknown flag and a missing value with one line on stderr, exit 2', () => {
    for (const args of [['--bogus'], ['--runs']]) {
      const run = bench(args);
      expect(run.status, args[0]).toBe(2);
      expect(run.stdout).toBe('');
      expect(run.stderr.trimEnd().split('\n'), args[0]).toHaveLength(1);
      expect(run.stderr).toMatch(/^bench: .*'--(bogus|runs)/);
      expect(run.stderr).toContain('--help');
    }
  });

  it('refuses a --runs that is no whole number from 1 and an unknown --only among known ones, before any setup', () => {
    const json = path.join(dir, 'refused.json');
    const cases: [string[], RegExp][] = [
      [['--runs', '0'], /^bench: --runs must be a whole number from 1, got "0"/],
      [['--runs', 'abc'], /^bench: --runs must be a whole number from 1, got "abc"/],
      [['--runs', '2.5'], /^bench: --runs must be a whole number from 1, got "2.5"/],
      [['--only', 'nope', '--only', 'file-to-file', '--smoke'], /^bench: no such scenario: nope; choose from: /],
    ];
    for (const [args, message] of cases) {
      const run = bench(['--only', 'file-to-file', ...args, '--json', json]);
      expect(run.status, args.join(' ')).toBe(2);
      expect(run.stdout, args.join(' ')).toBe('');
      expect(run.stderr.trimEnd().split('\n'), args.join(' ')).toHaveLength(1);
      expect(run.stderr, args.join(' ')).toMatch(message);
    }
    expect(fs.existsSync(json)).toBe(false);
  });
});

// The addon plays no part here: once, in the native project.
describe.skipIf(FALLBACK)('bench/native/load.c, the HTTP load generator', () => {
  const run = promisify(execFile);
  let program: string;
  beforeAll(() => {
    program = path.join(dir, 'load');
    execFileSync(process.env.CC ?? 'cc', ['-O2', '-o', program, path.join(repo, 'bench', 'native', 'load.c')]);
  });

  type Answer = (socket: net.Socket, request: number) => void;

  /** A server on 127.0.0.1 that calls `answer` for each request (a head ending in a blank line) it reads. */
  async function server(answer: Answer, { accept = Infinity } = {}): Promise<{ url: string; close: () => void }> {
    const sockets = new Set<net.Socket>();
    let accepted = 0;
    const srv = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket)).on('error', () => {});
      // After `accept` connections it stops listening: later connects are refused.
      if (++accepted === accept) srv.close();
      let pending = '';
      let request = 0;
      socket.on('data', (chunk) => {
        pending += chunk.toString('latin1');
        for (let end; (end = pending.indexOf('\r\n\r\n')) !== -1;) {
          pending = pending.slice(end + 4);
          answer(socket, request++);
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

  async function load(url: string, args: string[]) {
    const { stdout } = await run(program, [...args, url], { timeout: 20_000 });
    return JSON.parse(stdout);
  }

  const BODY = Buffer.alloc(3000, 'x');

  /** Answers 200 to even requests and 404 to odd ones, the head and body in several writes; the last of `k` closes. */
  const answering = (k: number, closeHeader: boolean): Answer => (socket, i) => {
    const last = i === k - 1;
    const head = `HTTP/1.1 ${i % 2 ? '404 Not Found' : '200 OK'}\r\nContent-Length: ${BODY.length}\r\n` +
      `${last && closeHeader ? 'Connection: close\r\n' : ''}\r\n`;
    socket.write(head.slice(0, 10));
    socket.write(head.slice(10));
    socket.write(BODY.subarray(0, 1000));
    socket.write(BODY.subarray(1000));
    if (last) socket.end();
  };
  const responseBytes = (i: number) => `HTTP/1.1 ${i % 2 ? '404 Not Found' : '200 OK'}\r\nContent-Length: ${BODY.length}\r\n\r\n`.length + BODY.length;

  it('counts exactly the responses a server gives: C connections answered K times each, then refused', async () => {
    const [C, K] = [3, 5];
    for (const closeHeader of [true, false]) {
      const srv = await server(answering(K, closeHeader), { accept: C });
      try {
        const r = await load(srv.url, ['-c', String(C), '-d', '1.5']);
        const bytes = C * Array.from({ length: K }, (_, i) => responseBytes(i) + (i === K - 1 && closeHeader ? 19 : 0))
          .reduce((a, b) => a + b, 0);
        expect(r, `Connection: close ${closeHeader}`).toMatchObject({
          requests: C * K, bytes, received: bytes, non2xx: C * Math.floor(K / 2), badResponses: 0, timeouts: 0, connections: C,
          // Without the header, each connection's next request meets the server's close: one socket error each.
          socketErrors: closeHeader ? 0 : C,
        });
        expect(r.connectErrors).toBeGreaterThan(0); // its reconnects, refused once the server stopped listening
        expect(r.latencyUs.p50).toBeGreaterThan(0);
      } finally {
        srv.close();
      }
    }
  });

  it('does not count a response still in flight at the deadline; one that stalled there is a timeout', async () => {
    // The second response on each connection never completes: half its body, then either nothing (the server
    // stopped: a timeout at the deadline, though the run is shorter than the timeout) or 5 bytes every 20 ms
    // (still moving: no error).
    const head = `HTTP/1.1 200 OK\r\nContent-Length: ${BODY.length}\r\n\r\n`;
    for (const trickle of [false, true]) {
      const timers: NodeJS.Timeout[] = [];
      const srv = await server((socket, i) => {
        if (i === 0) return socket.write(Buffer.concat([Buffer.from(head), BODY]));
        socket.write(Buffer.concat([Buffer.from(head), BODY.subarray(0, 1500)]));
        let at = 1500;
        if (trickle) timers.push(setInterval(() => at < BODY.length - 5 && socket.write(BODY.subarray(at, (at += 5))), 20));
      });
      try {
        const r = await load(srv.url, ['-c', '2', '-d', '2']);
        const bytes = 2 * (head.length + BODY.length);
        expect(r, `trickle ${trickle}`).toMatchObject({ requests: 2, socketErrors: 0, badResponses: 0, connectErrors: 0,
          timeouts: trickle ? 0 : 2, bytes });
        // The half response counts among the bytes received, not among the responses' bytes.
        if (trickle) expect(r.received).toBeGreaterThan(bytes + 2 * (head.length + 1500));
        else expect(r.received).toBe(bytes + 2 * (head.length + 1500));
      } finally {
        for (const timer of timers) clearInterval(timer);
        srv.close();
      }
    }
  });

  it('reports a server that answers garbage, closes at once or never answers as errors, and ends on time', async () => {
    const garbage: [string, Answer, string][] = [
      ['no status line', (s) => s.write('garbage\r\n\r\n'), 'badResponses'],
      ['no Content-Length', (s) => s.write('HTTP/1.1 200 OK\r\n\r\nbody'), 'badResponses'],
      ['a chunked body', (s) => s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'), 'badResponses'],
      ['more bytes than its Content-Length', (s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nabcdef'), 'badResponses'],
      ['an endless head', (s) => s.write(`HTTP/1.1 200 OK\r\nX: ${'y'.repeat(10_000)}`), 'badResponses'],
      ['a close instead of an answer', (s) => s.destroy(), 'socketErrors'],
      ['a reset instead of an answer', (s) => s.resetAndDestroy(), 'socketErrors'],
      ['no answer at all', () => {}, 'timeouts'],
    ];
    for (const [what, answer, counter] of garbage) {
      const srv = await server(answer);
      try {
        const started = performance.now();
        const r = await load(srv.url, ['-c', '2', '-d', '1', '-t', '0.3']);
        expect(r.requests, what).toBe(0);
        expect(r[counter], what).toBeGreaterThan(0);
        expect(performance.now() - started, what).toBeLessThan(10_000); // the duration, not a hang
      } finally {
        srv.close();
      }
    }
  });

  it('answers bad arguments with a usage line on stderr, exit 2', () => {
    const url = 'http://127.0.0.1:1/';
    for (const args of [[], ['-c', '2', '-d', '1'], ['-c', '0', '-d', '1', url], ['-c', '2', '-d', 'x', url],
      ['-c', '2', '-d', '-1', url], ['-c', '2', '-d', '1', '-t', '0', url], ['-c', '2', '-d', '1', 'https://127.0.0.1:1/'],
      ['-c', '2', '-d', '1', 'http://localhost:80/'], ['-c', '2', '-d', '1', 'http://127.0.0.1:99999/'], ['-x']]) {
      const r = spawnSync(program, args, { encoding: 'utf8', timeout: 10_000 });
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stdout, args.join(' ')).toBe('');
      expect(r.stderr.trimEnd().split('\n').at(-1), args.join(' ')).toMatch(/^usage: load -c <connections/);
    }
  });
});
