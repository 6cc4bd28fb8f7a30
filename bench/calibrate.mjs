// `npm run bench -- --calibrate [--out <file>] [--runs <n>]`: sendFile forced to each 'send' strategy, per
// destination this host can reach and per size, in interleaved rounds; the fastest (median GB/s; within 3%, the
// one with less sender CPU per GB) becomes that destination's rule from that size on. Writes the calibration
// file that configure({ calibration }) loads. A remote TCP peer and TLS cannot be measured here: their rules are
// the defaults, and the file says so.
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { sendFile } from 'zerocopy';
import { makeFile } from './lib/files.mjs';
import { fixed, percent } from './lib/format.mjs';
import { measure, summarize } from './lib/measure.mjs';
import { pipeReceiver } from './lib/pipe-receiver.mjs';
import { tcpReceiver } from './lib/tcp-receiver-proc.mjs';
import { STRATEGIES, connect } from './scenarios/file-to-socket.mjs';

const KiB = 1024;
const MiB = 1024 * KiB;
const SIZES = [64 * KiB, MiB, 64 * MiB, 256 * MiB];
const BYTES_PER_RUN = 64 * MiB; // small files are sent several times per run, so that timing means something
const CLOSE = 0.03; // GB/s within this fraction count as a tie, which less CPU breaks

// Defaults for what one host cannot measure (kept in step with the loader's defaults).
const UNMEASURED = [
  { destination: 'remote-tcp', minBytes: 0, strategy: 'sendfile',
    note: 'not measured: one host cannot reach a remote peer; a real NIC with scatter-gather takes the page-cache pages without a CPU copy' },
  { destination: 'tls', minBytes: 0, strategy: 'copy',
    note: 'not measured: TLS encrypts in user space, so only copy applies' },
];

/** Sends with `strategy` into one destination; throws when sendFile reports another strategy. */
async function sendChecked(out, file, strategy) {
  const result = await sendFile(out, file, { strategy });
  if (result.strategy !== strategy) {
    throw new Error(`sendFile moved the bytes by ${result.strategy ?? 'its default (no strategy option)'}, not ${strategy}`);
  }
}

// Each destination: (file, times, strategy) => a setup for measure(): it prepares a receiver, and returns the
// timed function (which returns the receiver's CPU seconds).
const DESTINATIONS = {
  'local-tcp': (receiver) => ({ file, times, strategy }) => async () => {
    const rx = await receiver();
    const socket = await connect(rx.port);
    return async () => {
      for (let i = 0; i < times; i++) await sendChecked(socket, file, strategy);
      socket.end();
      return (await rx.report()).cpu;
    };
  },
  unix: null, // as local-tcp, on a Unix socket: filled in below
  pipe: () => ({ file, times, strategy }) => async () => {
    const rx = await pipeReceiver();
    return async () => {
      for (let i = 0; i < times; i++) await sendChecked(rx.writeFd, file, strategy);
      return (await rx.finish()).cpu;
    };
  },
  file: (_, dir) => ({ file, times, strategy }) => async () => {
    const fd = openSync(join(dir, 'out'), 'w');
    return async () => {
      for (let i = 0; i < times; i++) await sendChecked(fd, file, strategy);
      closeSync(fd);
      return 0;
    };
  },
};
DESTINATIONS.unix = DESTINATIONS['local-tcp'];

/** The rules of one destination: the best strategy per size, merged where neighbours agree. */
function rulesOf(destination, bestBySize) {
  const rules = [];
  for (const [i, { size, strategy }] of bestBySize.entries()) {
    if (rules.at(-1)?.strategy === strategy) continue;
    rules.push({ destination, minBytes: i === 0 ? 0 : size, strategy });
  }
  return rules;
}

function best(rows) {
  const fastest = Math.max(...rows.map((r) => r.gbPerSecond));
  const close = rows.filter((r) => r.gbPerSecond >= fastest * (1 - CLOSE));
  return close.reduce((a, b) => (b.senderCpuPerGb < a.senderCpuPerGb ? b : a));
}

export async function calibrate({ out, runs, smoke }) {
  const dir = mkdtempSync(join(tmpdir(), 'zerocopy-calibrate-'));
  const receivers = new Map(); // destination -> a receiver shared by its runs
  const receiverFor = (destination) => async () => {
    if (!receivers.has(destination)) {
      receivers.set(destination, await tcpReceiver(destination === 'unix' ? join(dir, 'rx.sock') : undefined));
    }
    return receivers.get(destination);
  };
  const measured = [];
  const rules = [];
  try {
    for (const [destination, make] of Object.entries(DESTINATIONS)) {
      const setupFor = make(receiverFor(destination), dir);
      const bestBySize = [];
      for (const size of smoke ? [SIZES[0]] : SIZES) {
        const file = makeFile(join(dir, `data-${size}`), size);
        const times = smoke ? 1 : Math.max(1, Math.floor(BYTES_PER_RUN / size));
        const samples = STRATEGIES.map(() => []);
        for (let round = 0; round < runs; round++) {
          for (const [i, strategy] of STRATEGIES.entries()) {
            samples[i].push(await measure(setupFor({ file, times, strategy })));
          }
        }
        const rows = STRATEGIES.map((strategy, i) => ({ destination, size, times, strategy, ...summarize(size * times, samples[i]) }));
        measured.push(...rows);
        const winner = best(rows);
        bestBySize.push({ size, strategy: winner.strategy });
        console.log(`${destination.padEnd(10)} ${String(size / KiB).padStart(7)} KiB ×${String(times).padEnd(5)} ` +
          rows.map((r) => `${r.strategy} ${fixed(r.gbPerSecond)} GB/s ±${percent(r.gbPerSecondSpread)} ` +
            `${r.senderCpuPerGb.toFixed(3)} s/GB`).join(' | ') + `  -> ${winner.strategy}`);
        rmSync(file);
      }
      rules.push(...rulesOf(destination, bestBySize));
    }
  } finally {
    for (const rx of receivers.values()) rx.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const calibration = {
    version: 1,
    measured: new Date().toISOString(),
    machine: `${cpus()[0]?.model}, ${cpus().length} cpus, ${release()}`,
    rules: [...rules, ...UNMEASURED.map(({ note, ...rule }) => rule)],
    notes: Object.fromEntries(UNMEASURED.map((r) => [r.destination, r.note])),
    runs,
    results: measured.map((r) => ({ destination: r.destination, size: r.size, strategy: r.strategy,
      gbPerSecond: r.gbPerSecond, gbPerSecondSpread: r.gbPerSecondSpread, senderCpuPerGb: r.senderCpuPerGb })),
  };
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(calibration, null, 2) + '\n');
  console.log(`\ncalibration: ${out}`);
}
