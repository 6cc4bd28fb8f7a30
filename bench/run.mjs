#!/usr/bin/env node
// `npm run bench`: every zero-copy path against read+write, on this machine, side by side in one run.
// `npm run bench -- --help` lists the flags and the scenarios; `--calibrate [--out <file>]` measures each 'send'
// strategy per destination and size and writes the calibration file configure({ calibration }) loads.
// The methods of a case run interleaved: round 1 runs each method once, then round 2, ..., so that a noisy
// moment on a shared machine hits every method alike.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { capabilities } from 'zerocopy';
import { renderChart } from './lib/chart.mjs';
import { makeFile } from './lib/files.mjs';
import { fixed, percent } from './lib/format.mjs';
import { measure, summarize } from './lib/measure.mjs';
import { Skipped } from './lib/skipped.mjs';
import { calibrate } from './calibrate.mjs';
import fileToFile from './scenarios/file-to-file.mjs';
import fileToPipe from './scenarios/file-to-pipe.mjs';
import { httpServing } from './scenarios/http.mjs';
import { crossover } from './scenarios/crossover.mjs';
import { direct } from './scenarios/direct.mjs';
import { eventLoop } from './scenarios/event-loop.mjs';
import { fileToSocket, smallFiles } from './scenarios/file-to-socket.mjs';
import { lease } from './scenarios/lease.mjs';
import { leaseCost } from './scenarios/lease-cost.mjs';
import { mmapHash, mmapScan } from './scenarios/mmap.mjs';
import { relay } from './scenarios/relay.mjs';
import { upload } from './scenarios/upload.mjs';

const SCENARIOS = [fileToSocket, smallFiles, crossover, httpServing, eventLoop, relay, upload, fileToPipe, fileToFile, mmapHash, mmapScan, lease, leaseCost, direct];
const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
// Small files are sent many times per run, so that each run moves at least this much and timing means something.
const BYTES_PER_RUN = 64 * MiB;

const DEFAULT_JSON = new URL('./results/latest.json', import.meta.url).pathname;
// One table for the parser and --help.
const FLAGS = {
  quick: { type: 'boolean', default: false, help: 'the default sizes and repetitions (the default)' },
  full: { type: 'boolean', default: false, help: 'adds larger sizes (1 GiB)' },
  only: { type: 'string', multiple: true, value: '<scenario>', help: 'run this scenario only (repeatable)' },
  json: { type: 'string', default: DEFAULT_JSON, value: '<file>',
    help: 'where the results go (default bench/results/latest.json): each scenario\'s beside it as latest-<scenario>.json, and all of them in it when every scenario ran; each chart as .svg beside its JSON' },
  'cross-check': { type: 'boolean', default: false,
    help: "http: also load the baseline server with wrk (when installed) and print both load generators' figures side by side" },
  runs: { type: 'string', value: '<n>', help: 'repetitions per case (default 5, 1 with --smoke)' },
  smoke: { type: 'boolean', default: false, help: 'the smallest size of each scenario, one run: checks that everything runs' },
  calibrate: { type: 'boolean', default: false,
    help: "measures each 'send' strategy per destination and size and writes the file configure({ calibration }) loads" },
  out: { type: 'string', default: new URL('./results/calibration.json', import.meta.url).pathname, value: '<file>',
    help: 'with --calibrate: where to write it (default bench/results/calibration.json)' },
  help: { type: 'boolean', short: 'h', default: false, help: 'print this help' },
};

function usage() {
  const flags = Object.entries(FLAGS).map(([name, f]) => [`${f.short ? `-${f.short}, ` : ''}--${name}${f.value ? ` ${f.value}` : ''}`, f.help]);
  const scenarios = SCENARIOS.map((s) => [s.name, s.title]);
  const width = Math.max(...[...flags, ...scenarios].map(([left]) => left.length)) + 2;
  const lines = (rows) => rows.map(([left, right]) => `  ${left.padEnd(width)}${right}`).join('\n');
  return `Usage: npm run bench -- [flags]\n\nFlags:\n${lines(flags)}\n\nScenarios (all by default):\n${lines(scenarios)}`;
}

let values;
try {
  ({ values } = parseArgs({ options: Object.fromEntries(Object.entries(FLAGS).map(([name, { help, value, ...f }]) => [name, f])) }));
} catch (err) {
  console.error(`bench: ${err.message.split('. ')[0]}. See npm run bench -- --help`);
  process.exit(2);
}
if (values.help) {
  console.log(usage());
  process.exit(0);
}
const smoke = values.smoke;
// In a smoke run every case moves at most this much.
const SMOKE_BYTES = MiB;
// A scenario may choose its own sizes; these are the default.
const defaultSizes = (full) => (full ? [64 * KiB, MiB, 64 * MiB, GiB] : [64 * KiB, MiB, 64 * MiB]);
function refuse(message) {
  console.error(`bench: ${message}. See npm run bench -- --help`);
  process.exit(2);
}
// Checked before any setup: a bad value must not cost a run that then crashes.
if (values.runs !== undefined && !(/^\d+$/.test(values.runs) && Number(values.runs) >= 1)) {
  refuse(`--runs must be a whole number from 1, got ${JSON.stringify(values.runs)}`);
}
// Each scenario's results go beside it as <name>-<scenario>.json: the name must be a .json file's.
if (!values.json.endsWith('.json')) refuse(`--json must name a .json file, got ${JSON.stringify(values.json)}`);
const runs = Number(values.runs ?? (smoke ? 1 : 5));
const unknown = (values.only ?? []).filter((name) => !SCENARIOS.some((s) => s.name === name));
if (unknown.length > 0) {
  refuse(`no such scenario: ${unknown.join(', ')}; choose from: ${SCENARIOS.map((s) => s.name).join(', ')}`);
}
const scenarios = values.only ? SCENARIOS.filter((s) => values.only.includes(s.name)) : SCENARIOS;
if (values.calibrate) {
  await calibrate({ out: values.out, runs: Number(values.runs ?? 3), smoke });
  process.exit(0);
}

const human = (n) => (n >= GiB ? `${n / GiB} GiB` : n >= MiB ? `${n / MiB} MiB` : `${n / KiB} KiB`);
const progress = (text) => process.stderr.isTTY && process.stderr.write(`\r\x1b[K${text}`);

function table(header, lines) {
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(fmt(header));
  for (const l of lines) console.log(fmt(l));
}

/** The fastest of a scenario's native (C) methods in this run, when it has any that ran. */
function bestNative(scenario, rows) {
  const native = rows.filter((r) => scenario.native?.(r.method) && Number.isFinite(r.gbPerSecond));
  return native.length ? native.reduce((a, b) => (b.gbPerSecond > a.gbPerSecond ? b : a)) : undefined;
}

/** Methods that could not run, grouped by why. */
function printSkipped(skipped) {
  const byWhy = new Map();
  for (const [method, why] of skipped) byWhy.set(why, [...(byWhy.get(why) ?? []), method]);
  for (const [why, methods] of byWhy) console.log(`skipped: ${methods.join(', ')}: ${why}`);
}

function printTable(scenario, size, rows) {
  if (rows.length === 0) {
    console.log(`\n${scenario.title}: ${human(size)}: nothing could run here`);
    return;
  }
  const base = rows.find((r) => r.method === scenario.baseline);
  const times = rows[0].times;
  const sends = scenario.fileSize ? '' : times > 1 ? ` (×${times} per run)` : '';
  console.log(`\n${scenario.title}: ${human(size)}${sends}`);
  console.log(base ? `× base: the ratio to ${scenario.baseline} in this same run (higher throughput and lower CPU are better)`
    : `× base: none (${scenario.baseline} did not run)`);
  const spreadOf = (r) => percent(r.gbPerSecondSpread);
  if (scenario.perItem) {
    const item = scenario.perItem;
    const us = (cpu) => (cpu ? fixed((cpu / times) * 1e6, 1) : '-');
    table(['method', `${item}s/s`, '±', '× base', `CPU µs/${item}`, '× base',
      `receiver µs/${item}`], rows.map((r) => [
      r.method,
      fixed(times / r.seconds, 0),
      spreadOf(r),
      fixed(base?.seconds / r.seconds),
      us(r.senderCpu),
      fixed(r.senderCpu / base?.senderCpu),
      us(r.receiverCpu),
    ]));
    return;
  }
  const rss = rows.some((r) => r.peakRssMiB !== undefined);
  const best = bestNative(scenario, rows);
  if (best) console.log(`× best C: the ratio to the fastest C method in this run (${best.method}): GB/s, and CPU s/GB`);
  table(['method', 'GB/s', '±', '× base', 'CPU s/GB', '× base', ...(best ? ['× best C', 'CPU × best C'] : []),
    ...(rss ? ['peak RSS MiB', 'anon RSS MiB'] : ['receiver CPU s/GB'])], rows.map((r) => [
    r.method,
    fixed(r.gbPerSecond),
    spreadOf(r),
    fixed(r.gbPerSecond / base?.gbPerSecond),
    fixed(r.senderCpuPerGb, 3),
    fixed(r.senderCpuPerGb / base?.senderCpuPerGb),
    ...(best ? [fixed(r.gbPerSecond / best.gbPerSecond), fixed(r.senderCpuPerGb / best.senderCpuPerGb)] : []),
    ...(rss ? [fixed(r.peakRssMiB, 0), fixed(r.anonRssMiB, 0)]
      : [r.receiverCpuPerGb ? fixed(r.receiverCpuPerGb, 3) : '-']),
  ]));
}

const caps = capabilities();
const machine = {
  cpus: cpus().length,
  cpuModel: cpus()[0]?.model,
  memoryGiB: Math.round(totalmem() / GiB),
  kernel: release(),
  node: process.version,
  native: caps.native,
  fallbackReason: caps.reason,
};
console.log(`zerocopy bench: ${machine.cpus} × ${machine.cpuModel}, Linux ${machine.kernel}, Node ${machine.node}`);
console.log(`native binding: ${caps.native ? 'yes' : `no (${caps.reason})`}; ${runs} runs per case, median shown`);

// Each scenario's results and chart go to <name>-<scenario>.json and .svg as soon as it has run (a later crash
// loses nothing before it), so that a later `--only` run replaces its own scenario's files and no other; a run of
// every scenario also writes them all together as <name>.json/.svg.
const date = new Date().toISOString();
const stem = values.json.replace(/\.json$/, '');
mkdirSync(dirname(stem), { recursive: true });
const written = [];
function write(file, rows) {
  const report = { date, machine, runs, results: rows };
  writeFileSync(`${file}.json`, JSON.stringify(report, null, 2) + '\n');
  writeFileSync(`${file}.svg`, renderChart(report));
  written.push(file);
}

const dir = mkdtempSync(join(tmpdir(), 'zerocopy-bench-'));
const files = new Map(); // size -> data file, made once and shared by the scenarios
const results = [];
try {
  for (const scenario of scenarios) {
    const started = performance.now();
    const took = () => console.log(`(${scenario.name}: ${((performance.now() - started) / 1000).toFixed(1)} s)`);
    if (scenario.run) {
      // A scenario that measures something else than throughput runs and prints itself.
      progress(`${scenario.name}`);
      const rows = await scenario.run({ dir, full: values.full, smoke, runs, progress, crossCheck: values['cross-check'] });
      progress('');
      console.log(`\n${scenario.title}`);
      scenario.print(rows, table);
      results.push(...rows);
      write(`${stem}-${scenario.name}`, rows);
      took();
      continue;
    }
    const sizes = (scenario.sizes ?? defaultSizes)(values.full);
    for (const size of smoke ? [Math.min(SMOKE_BYTES, ...sizes)] : sizes) {
      // A scenario may move `size` bytes as several sends of a smaller file (`fileSize`).
      const fileBytes = smoke ? size : scenario.fileSize ?? size;
      if (!files.has(fileBytes)) files.set(fileBytes, makeFile(join(dir, `data-${fileBytes}`), fileBytes));
      const file = files.get(fileBytes);
      const context = {
        file,
        size: fileBytes,
        times: scenario.fileSize ? size / fileBytes : Math.max(1, Math.floor(BYTES_PER_RUN / size)),
        ...scenario.prepare?.({ file, size: fileBytes }),
      };
      if (smoke) context.times = Math.min(context.times, Math.max(1, Math.floor(SMOKE_BYTES / fileBytes)));
      const methods = Object.entries(scenario.methods);
      const samples = methods.map(() => []);
      const skipped = new Map(); // method -> why it cannot run here
      for (let round = 0; round < runs; round++) {
        for (const [i, [method, prepare]] of methods.entries()) {
          if (skipped.has(method)) continue;
          progress(`${scenario.name} ${human(size)}: round ${round + 1}/${runs}, ${method} (${i + 1}/${methods.length})`);
          try {
            samples[i].push(await measure(prepare(context)));
          } catch (err) {
            if (!(err instanceof Skipped)) throw err;
            skipped.set(method, err.message);
          }
        }
      }
      const rows = methods.flatMap(([method], i) => (skipped.has(method) ? [] : [{
        scenario: scenario.name, size, times: context.times, method, ...summarize(fileBytes * context.times, samples[i]),
      }]));
      progress('');
      printTable(scenario, size, rows);
      printSkipped(skipped);
      const base = rows.find((r) => r.method === scenario.baseline);
      const best = bestNative(scenario, rows);
      for (const r of rows) {
        Object.assign(r, { title: scenario.title, baseline: scenario.baseline });
        if (base) {
          Object.assign(r, { ratio: r.gbPerSecond / base.gbPerSecond, ratioMin: r.gbPerSecondMin / base.gbPerSecond,
            ratioMax: r.gbPerSecondMax / base.gbPerSecond });
        }
        if (best) {
          Object.assign(r, { bestNative: best.method, ratioToBestNative: r.gbPerSecond / best.gbPerSecond,
            cpuToBestNative: r.senderCpuPerGb / best.senderCpuPerGb });
        }
      }
      results.push(...rows, ...[...skipped].map(([method, why]) => ({
        scenario: scenario.name, title: scenario.title, baseline: scenario.baseline, size, method, skipped: why,
      })));
    }
    scenario.teardown?.();
    write(`${stem}-${scenario.name}`, results.filter((r) => r.scenario === scenario.name));
    took();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

if (!values.only) write(stem, results);
console.log(`\nresults (.json) and charts (.svg):\n${written.map((f) => `  ${f}.{json,svg}`).join('\n')}`);
