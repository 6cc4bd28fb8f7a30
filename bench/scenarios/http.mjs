// HTTP static files under load: serveFile against createReadStream().pipe(res), the `send` package (what
// serve-static and Express use) and nginx with `sendfile on` when installed. Each server runs in its own
// process; the load comes from wrk (or autocannon) with 16 keep-alive connections; the server's CPU is read
// from /proc. serveFile with every body read into memory (smallFileThreshold) shows where sendfile pays off.
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { load, loadGenerator } from '../lib/load.mjs';
import { median, spread } from '../lib/measure.mjs';
import { findNginx, startNginx } from '../lib/nginx.mjs';
import { processCpu } from '../lib/proc-cpu.mjs';
import { makeFile } from '../lib/files.mjs';

const KiB = 1024;
const MiB = 1024 * KiB;
const CONNECTIONS = 16;
const BASELINE = 'createReadStream().pipe(res)';

const human = (n) => (n >= MiB ? `${n / MiB} MiB` : `${n / KiB} KiB`);

async function startNode(method, root) {
  const child = spawn(process.execPath, [new URL('../lib/http-server.mjs', import.meta.url).pathname, method, root],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const port = Number((await lines.next()).value);
  return { port, pid: child.pid, stop: () => child.kill('SIGTERM') };
}

const METHODS = [
  [BASELINE, (root) => startNode('stream', root)],
  ['send', (root) => startNode('send', root)],
  ['serveFile', (root) => startNode('serveFile', root)],
  ['serveFile, read+write body', (root) => startNode('serveFile-small', root), (size) => size <= 64 * KiB],
];

async function measureServer(server, url, size, runs, seconds, warmUp) {
  if (warmUp) await load(url, { connections: CONNECTIONS, seconds: 1 }); // the page cache, the JIT, connections
  const samples = [];
  for (let i = 0; i < runs; i++) {
    const cpu0 = processCpu(server.pid);
    const r = await load(url, { connections: CONNECTIONS, seconds });
    const cpu = processCpu(server.pid) - cpu0;
    if (r.errors) throw new Error(`${r.errors} failed requests against ${url}`);
    samples.push({ rps: r.requests / r.seconds, cpuPerRequest: cpu / r.requests });
  }
  const rps = samples.map((s) => s.rps);
  const rpsMedian = median(rps);
  return {
    requestsPerSecond: rpsMedian,
    spread: spread(rps),
    gbPerSecond: (rpsMedian * size) / 1e9,
    serverCpuUsPerRequest: median(samples.map((s) => s.cpuPerRequest)) * 1e6,
    serverCpuPerGb: (median(samples.map((s) => s.cpuPerRequest)) * 1e9) / size,
  };
}

export const httpServing = {
  name: 'http',
  title: `HTTP static files: requests/s under load (${CONNECTIONS} keep-alive connections)`,
  async run({ dir, full, smoke, runs, progress }) {
    const root = join(dir, 'http-root');
    mkdirSync(root, { recursive: true });
    const sizes = smoke ? [4 * KiB] : full ? [4 * KiB, 64 * KiB, MiB, 64 * MiB, 1024 * MiB] : [4 * KiB, 64 * KiB, MiB, 64 * MiB];
    // The quick run: runs of 1 s per case and no separate warm-up (the median absorbs a cold first run);
    // --full: a warm-up, then runs of 3 s.
    const seconds = full ? 3 : 1;
    const nginx = findNginx();
    const methods = nginx ? [...METHODS, ['nginx (sendfile on)', (r) => startNginx(nginx, dir, r)]] : METHODS;
    const rows = [];
    for (const size of sizes) {
      const name = `${size}.bin`;
      makeFile(join(root, name), size);
      for (const [method, start, when] of methods) {
        if (when && !when(size)) continue;
        progress(`http ${human(size)}: ${method}`);
        const server = await start(root);
        try {
          const stats = await measureServer(server, `http://127.0.0.1:${server.port}/${name}`, size, runs, seconds, full);
          rows.push({ scenario: 'http', size, method, loadGenerator, connections: CONNECTIONS, runs, seconds, ...stats });
        } finally {
          server.stop();
        }
      }
    }
    for (const r of rows) {
      const base = rows.find((b) => b.size === r.size && b.method === BASELINE);
      Object.assign(r, { title: 'HTTP static files, requests/s', baseline: BASELINE, ratio: r.requestsPerSecond / base.requestsPerSecond });
    }
    if (!nginx) rows.push({ scenario: 'http', note: 'nginx not installed (apt-get install nginx-light): no native line' });
    return rows;
  },
  print(rows, table) {
    const first = rows.find((r) => r.runs);
    console.log(`load: ${loadGenerator}, ${first?.runs} runs of ${first?.seconds} s per case, medians; × base: the ratio to ${BASELINE} in this same run`);
    for (const size of [...new Set(rows.filter((r) => r.size).map((r) => r.size))]) {
      const lines = rows.filter((r) => r.size === size);
      const base = lines.find((r) => r.method === BASELINE);
      console.log(`\n${human(size)}`);
      table(['method', 'requests/s', '±', '× base', 'GB/s', 'server CPU µs/req', '× base'], lines.map((r) => [
        r.method,
        r.requestsPerSecond.toFixed(0),
        `${Math.round(r.spread * 100)}%`,
        (r.requestsPerSecond / base.requestsPerSecond).toFixed(2),
        r.gbPerSecond.toFixed(2),
        r.serverCpuUsPerRequest.toFixed(1),
        (r.serverCpuUsPerRequest / base.serverCpuUsPerRequest).toFixed(2),
      ]));
    }
    for (const r of rows.filter((x) => x.note)) console.log(`\n${r.note}`);
  },
};
