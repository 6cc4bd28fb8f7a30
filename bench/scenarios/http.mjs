// HTTP static files under load: serveFile against a bare `res.end(cachedBuffer)` server (the baseline: every file
// read into memory at start, so it is the floor of Node's own HTTP machinery), createReadStream().pipe(res), the
// `send` package (what serve-static and Express use) and nginx with `sendfile on` when installed. Each server runs
// in its own process, all of a size's servers up at once and measured interleaved round by round; the load comes
// from bench/native/load.c; the server's CPU is read from /proc. serveFile with every body read into memory
// (smallFileThreshold) shows where sendfile pays off. `--cross-check` also loads the baseline server with wrk.
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { load, loadWithWrk, wrkInstalled } from '../lib/load.mjs';
import { median, spread } from '../lib/measure.mjs';
import { nativeProgram } from '../lib/native.mjs';
import { findNginx, startNginx } from '../lib/nginx.mjs';
import { processCpu } from '../lib/proc-cpu.mjs';
import { makeFile } from '../lib/files.mjs';
import { fixed, percent } from '../lib/format.mjs';
import { Skipped } from '../lib/skipped.mjs';

const KiB = 1024;
const MiB = 1024 * KiB;
const CONNECTIONS = 16;
// From LARGE up a response takes long and one still in flight at the deadline is not counted, so: fewer
// connections, and each server's runs made long enough (from a first run that is also its warm-up, by the bytes
// it moved) for each connection to complete RESPONSES_PER_CONNECTION responses, with a margin, within a cap.
const LARGE = 64 * MiB;
const LARGE_CONNECTIONS = 2;
const RESPONSES_PER_CONNECTION = 4;
const MARGIN = 1.25;
const MAX_RUN_SECONDS = 60;
const BASELINE = 'res.end(cachedBuffer)';
const NGINX = 'nginx (sendfile on)';
const LOAD_GENERATOR = 'bench/native/load.c';

const human = (n) => (n >= MiB ? `${n / MiB} MiB` : `${n / KiB} KiB`);

async function startNode(method, root) {
  const child = spawn(process.execPath, [new URL('../lib/http-server.mjs', import.meta.url).pathname, method, root],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const port = Number((await lines.next()).value);
  return { port, pid: child.pid, stop: () => child.kill('SIGTERM') };
}

const METHODS = [
  [BASELINE, (root) => startNode('buffer', root)],
  ['createReadStream().pipe(res)', (root) => startNode('stream', root)],
  ['send', (root) => startNode('send', root)],
  ['serveFile', (root) => startNode('serveFile', root)],
  ['serveFile, read+write body', (root) => startNode('serveFile-small', root), (size) => size <= 64 * KiB],
];

/** Connections and (shortest) run length for a size (see LARGE). */
function plan(size, full, smoke) {
  return { connections: size < LARGE ? CONNECTIONS : LARGE_CONNECTIONS, seconds: smoke ? 0.5 : full ? 3 : 1 };
}

/** A large file's run length for one server: a first run's byte rate decides it (see LARGE). */
async function lengthFor(url, size, how) {
  const first = await load(url, how);
  const why = errorsIn(first) ?? (first.received === 0 ? `not a byte arrived in a ${how.seconds} s first run` : undefined);
  if (why) throw new Skipped(why);
  const needed = (MARGIN * RESPONSES_PER_CONNECTION * how.connections * size) / (first.received / first.seconds);
  return { ...how, seconds: Math.min(MAX_RUN_SECONDS, Math.max(how.seconds, Math.ceil(needed * 10) / 10)) };
}

const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** The errors of a run, or undefined: a case whose requests fail is not a figure. */
function errorsIn(r) {
  const kinds = [[r.non2xx, 'non-2xx response'], [r.socketErrors, 'socket error'], [r.connectErrors, 'connect error'],
    [r.badResponses, 'bad response'], [r.timeouts, 'timeout']].filter(([n]) => n > 0);
  return kinds.length ? `${kinds.map(([n, word]) => plural(n, word)).join(', ')} in a run` : undefined;
}

/** Why a run gives no figure (errors, or no response at all), or undefined. */
function failure(r, seconds) {
  return errorsIn(r) ?? (r.requests === 0 ? `no response completed in a ${seconds} s run` : undefined);
}

/** One run against one server: requests/s and the server's CPU per request. */
async function once(server, url, { connections, seconds }) {
  const cpu0 = processCpu(server.pid);
  const r = await load(url, { connections, seconds });
  const cpu = processCpu(server.pid) - cpu0;
  const why = failure(r, seconds);
  if (why) throw new Skipped(why);
  return { rps: r.requests / r.seconds, cpuPerRequest: cpu / r.requests, perConnection: r.requests / connections,
    latencyP50Us: r.latencyUs.p50, latencyP99Us: r.latencyUs.p99 };
}

function summary(samples, size) {
  const rps = samples.map((s) => s.rps);
  const rpsMedian = median(rps);
  const cpuPerRequest = median(samples.map((s) => s.cpuPerRequest));
  return {
    requestsPerSecond: rpsMedian,
    spread: spread(rps),
    requestsPerSecondMin: Math.min(...rps),
    requestsPerSecondMax: Math.max(...rps),
    gbPerSecond: (rpsMedian * size) / 1e9,
    // /proc counts CPU in 10 ms ticks: a server that used less than one in a run has no figure, not a 0.
    ...(cpuPerRequest > 0 ? { serverCpuUsPerRequest: cpuPerRequest * 1e6, serverCpuPerGb: (cpuPerRequest * 1e9) / size } : {}),
    latencyP50Us: median(samples.map((s) => s.latencyP50Us)),
    latencyP99Us: median(samples.map((s) => s.latencyP99Us)),
    // Responses per connection in the run that completed fewest: a large file must still complete several.
    responsesPerConnection: Math.min(...samples.map((s) => s.perConnection)),
  };
}

/** The baseline server loaded by load.c and by wrk, alternately: both figures, side by side. */
async function crossCheck(server, url, size, runs, plan) {
  const ours = [];
  const theirs = [];
  for (let i = 0; i < runs; i++) {
    const a = await load(url, plan);
    const b = await loadWithWrk(url, plan);
    if (failure(a, plan.seconds) || b.errors || b.requests === 0) {
      return { scenario: 'http', crossCheck: true, size, method: BASELINE,
        skipped: failure(a, plan.seconds) ?? (b.errors ? `wrk saw ${plural(b.errors, 'failed request')}` : 'wrk saw no response') };
    }
    ours.push(a.requests / a.seconds);
    theirs.push(b.requests / b.seconds);
  }
  return {
    scenario: 'http', crossCheck: true, size, method: BASELINE, ...plan, runs,
    loadRequestsPerSecond: median(ours), loadSpread: spread(ours),
    wrkRequestsPerSecond: median(theirs), wrkSpread: spread(theirs),
  };
}

export const httpServing = {
  name: 'http',
  title: `HTTP static files: requests/s under load (${CONNECTIONS} keep-alive connections; ${LARGE_CONNECTIONS} from ${human(LARGE)})`,
  async run({ dir, full, smoke, runs, progress, crossCheck: crossChecking }) {
    const sizes = smoke ? [4 * KiB] : full ? [4 * KiB, 64 * KiB, MiB, 64 * MiB, 1024 * MiB] : [4 * KiB, 64 * KiB, MiB, 64 * MiB];
    const nginx = findNginx();
    const methods = nginx ? [...METHODS, [NGINX, (r) => startNginx(nginx, dir, r)]] : METHODS;
    const rows = [];
    const common = { scenario: 'http', title: 'HTTP static files, requests/s', baseline: BASELINE };
    if (!nginx) rows.push({ ...common, method: NGINX, skipped: 'nginx is not installed (apt-get install nginx-light)' });
    if (crossChecking && !wrkInstalled()) {
      rows.push({ ...common, crossCheck: true, method: BASELINE, skipped: 'wrk is not installed (apt-get install wrk)' });
    }
    try {
      nativeProgram('load');
    } catch (err) {
      if (!(err instanceof Skipped)) throw err;
      return [...rows, ...methods.map(([method]) => ({ ...common, method, skipped: `no load generator: ${err.message}` }))];
    }
    for (const size of sizes) {
      // Each size its own root, so that the cached-buffer server holds only the file it serves.
      const root = join(dir, `http-${size}`);
      mkdirSync(root, { recursive: true });
      const name = `${size}.bin`;
      makeFile(join(root, name), size);
      const how = plan(size, full, smoke);
      const cases = methods.filter(([, , when]) => !when || when(size));
      const servers = [];
      const skipped = new Map();
      try {
        for (const [method, start] of cases) {
          try {
            servers.push(await start(root));
          } catch (err) {
            if (!(err instanceof Skipped)) throw err;
            servers.push(undefined);
            skipped.set(method, err.message);
          }
        }
        const url = (server) => `http://127.0.0.1:${server.port}/${name}`;
        // A large file's first run sets its length and warms up; otherwise --full warms up (the page cache, the
        // JIT, connections) and the quick run lets the median absorb it.
        const plans = cases.map(() => how);
        for (const [i, [method]] of cases.entries()) {
          if (skipped.has(method)) continue;
          progress(`http ${human(size)}: first run, ${method}`);
          try {
            if (size >= LARGE) plans[i] = await lengthFor(url(servers[i]), size, how);
            else if (full) await load(url(servers[i]), { ...how, seconds: 1 });
          } catch (err) {
            if (!(err instanceof Skipped)) throw err;
            skipped.set(method, err.message);
          }
        }
        const samples = cases.map(() => []);
        for (let round = 0; round < runs; round++) {
          for (const [i, [method]] of cases.entries()) {
            if (skipped.has(method)) continue;
            progress(`http ${human(size)}: round ${round + 1}/${runs}, ${method}`);
            try {
              samples[i].push(await once(servers[i], url(servers[i]), plans[i]));
            } catch (err) {
              if (!(err instanceof Skipped)) throw err;
              skipped.set(method, err.message);
            }
          }
        }
        const measured = cases.flatMap(([method], i) => (skipped.has(method) ? [] : [{
          ...common, size, method, loadGenerator: LOAD_GENERATOR, ...plans[i], runs, ...summary(samples[i], size),
        }]));
        const base = measured.find((r) => r.method === BASELINE);
        if (base) {
          for (const r of measured) {
            Object.assign(r, { ratio: r.requestsPerSecond / base.requestsPerSecond,
              ratioMin: r.requestsPerSecondMin / base.requestsPerSecond, ratioMax: r.requestsPerSecondMax / base.requestsPerSecond });
          }
        }
        rows.push(...measured, ...[...skipped].map(([method, why]) => ({ ...common, size, method, skipped: why })));
        if (crossChecking && wrkInstalled()) {
          progress(`http ${human(size)}: cross-check with wrk`);
          rows.push(await crossCheck(servers[0], url(servers[0]), size, runs, plans[0]));
        }
      } finally {
        for (const server of servers) server?.stop();
      }
    }
    return rows;
  },
  print(rows, table) {
    const first = rows.find((r) => r.runs && !r.crossCheck);
    if (first) {
      console.log(`load: ${LOAD_GENERATOR}, ${first.runs} runs per case, the methods interleaved round by round, medians;` +
        ` × base: the ratio to ${BASELINE} in this same run; server CPU: the server process's user+system time per response`);
    }
    for (const size of [...new Set(rows.filter((r) => r.size).map((r) => r.size))]) {
      const lines = rows.filter((r) => r.size === size && !r.crossCheck && !r.skipped);
      const base = lines.find((r) => r.method === BASELINE);
      const lengths = [...new Set(lines.map((r) => r.seconds))].sort((a, b) => a - b);
      const note = !lines.length ? '' : `: ${lines[0].connections} connections, ${lengths.join(', ')} s runs` + (size >= LARGE
        ? ` (each server's from its first run: long enough for ${RESPONSES_PER_CONNECTION} responses per connection; the` +
          ` fewest any run completed: ${fixed(Math.min(...lines.map((r) => r.responsesPerConnection)), 1)} per connection)`
        : '');
      console.log(`\n${human(size)}${note}`);
      if (lines.length) {
        table(['method', 'requests/s', '±', '× base', 'GB/s', 'server CPU µs/req', '× base', 'latency p50 ms', 'p99 ms'], lines.map((r) => [
          r.method,
          fixed(r.requestsPerSecond, 0),
          percent(r.spread),
          fixed(r.ratio, 2),
          fixed(r.gbPerSecond, 2),
          fixed(r.serverCpuUsPerRequest, 1),
          fixed(r.serverCpuUsPerRequest / base?.serverCpuUsPerRequest, 2),
          fixed(r.latencyP50Us / 1000, 2),
          fixed(r.latencyP99Us / 1000, 2),
        ]));
      }
      for (const r of rows.filter((x) => x.size === size && x.skipped && !x.crossCheck)) console.log(`skipped: ${r.method}: ${r.skipped}`);
      const check = rows.find((r) => r.size === size && r.crossCheck);
      if (check?.skipped) console.log(`cross-check with wrk: skipped: ${check.skipped}`);
      else if (check) {
        console.log(`cross-check, ${BASELINE}: load.c ${fixed(check.loadRequestsPerSecond, 0)} requests/s ` +
          `(±${percent(check.loadSpread)}), wrk ${fixed(check.wrkRequestsPerSecond, 0)} (±${percent(check.wrkSpread)}): ` +
          `wrk / load.c ${fixed(check.wrkRequestsPerSecond / check.loadRequestsPerSecond, 2)}`);
      }
    }
    const unsized = new Map(); // why -> what
    for (const r of rows.filter((x) => x.skipped && !x.size)) {
      unsized.set(r.skipped, [...(unsized.get(r.skipped) ?? []), r.crossCheck ? 'cross-check with wrk' : r.method]);
    }
    for (const [why, what] of unsized) console.log(`\nskipped: ${what.join(', ')}: ${why}`);
  },
};
