// Lease-break latency: from a writer's open() in another process to the 'break' event here, and to that open()
// returning (the lease given up natively), with an idle event loop and with one busy for 50 ms at a time.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { acquireLease } from 'zerocopy';
import { fixed } from '../lib/format.mjs';
import { whyNoLeases } from '../lib/skipped.mjs';

const percentile = (values, p) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * p))];
const now = () => performance.timeOrigin + performance.now();
const IDLE = 'idle event loop';
const BUSY = 'busy event loop (50 ms)';

async function measure(file, rounds, busy) {
  const writer = spawn(process.execPath, [new URL('../lib/lease-writer.mjs', import.meta.url).pathname],
    { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: writer.stdout })[Symbol.asyncIterator]();
  const toEvent = [];
  const toReturn = [];
  for (let i = 0; i < rounds; i++) {
    const lease = await acquireLease(file, 'read');
    const broke = new Promise((resolve) => lease.once('break', () => resolve(now())));
    writer.stdin.write(`${file}\n`);
    if (busy) for (const until = Date.now() + 50; Date.now() < until;);
    const [eventAt, report] = await Promise.all([broke, lines.next()]);
    const { start, end } = JSON.parse(report.value);
    toEvent.push(eventAt - start);
    toReturn.push(end - start);
    lease.release();
  }
  writer.stdin.end();
  return { toEvent, toReturn };
}

export const lease = {
  name: 'lease',
  title: "lease-break latency: a writer's open() in another process → 'break' here, → its open() returning",
  async run({ dir, full, smoke }) {
    const why = whyNoLeases();
    if (why) return [IDLE, BUSY].map((method) => ({ scenario: 'lease', method, skipped: why }));
    const file = join(dir, 'leased');
    writeFileSync(file, 'leased');
    const rounds = smoke ? 5 : full ? 500 : 100;
    const rows = [];
    for (const busy of [false, true]) {
      const { toEvent, toReturn } = await measure(file, rounds, busy);
      rows.push({
        scenario: 'lease', method: busy ? BUSY : IDLE, rounds,
        breakEventP50Ms: percentile(toEvent, 0.5), breakEventP99Ms: percentile(toEvent, 0.99),
        writerWaitP50Ms: percentile(toReturn, 0.5), writerWaitP99Ms: percentile(toReturn, 0.99),
      });
    }
    return rows;
  },
  print(rows, table) {
    for (const r of rows.filter((x) => x.skipped)) console.log(`skipped: ${r.method}: ${r.skipped}`);
    const measured = rows.filter((r) => !r.skipped);
    if (measured.length === 0) return;
    table(['event loop', 'open → break p50 ms', 'p99', 'writer waits p50 ms', 'p99'], measured.map((r) => [
      r.method, fixed(r.breakEventP50Ms, 3), fixed(r.breakEventP99Ms, 3),
      fixed(r.writerWaitP50Ms, 3), fixed(r.writerWaitP99Ms, 3),
    ]));
  },
};
