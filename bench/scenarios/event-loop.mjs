// What a transfer costs the rest of the program: the event loop's delay (perf_hooks.monitorEventLoopDelay,
// p50/p99/max) while 16 file → socket transfers run at once, each on its own connection to a receiving process.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { sendFile } from 'zerocopy';
import { connect, getReceiver, readWrite, streamPipe, teardown } from './file-to-socket.mjs';
import { makeFile } from '../lib/files.mjs';
import { fixed } from '../lib/format.mjs';
import { join } from 'node:path';

const TRANSFERS = 16;
const MiB = 1 << 20;

const METHODS = {
  'read+write': readWrite,
  'stream.pipe': streamPipe,
  sendFile: (socket, file) => sendFile(socket, file),
};

async function once(send, file) {
  const rx = await getReceiver();
  const sockets = await Promise.all(Array.from({ length: TRANSFERS }, () => connect(rx.port)));
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  const t0 = process.hrtime.bigint();
  await Promise.all(sockets.map(async (socket) => {
    await send(socket, file);
    socket.end();
  }));
  const reports = await Promise.all(sockets.map(() => rx.report()));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  histogram.disable();
  const bytes = reports.reduce((sum, r) => sum + r.bytes, 0);
  return { p50: histogram.percentile(50) / 1e6, p99: histogram.percentile(99) / 1e6, max: histogram.max / 1e6, gbPerSecond: bytes / 1e9 / seconds };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

export const eventLoop = {
  name: 'event-loop',
  title: `event-loop delay while ${TRANSFERS} file → socket transfers run at once`,
  async run({ dir, full, smoke, runs }) {
    const size = smoke ? MiB : full ? 256 * MiB : 64 * MiB;
    const file = makeFile(join(dir, `event-loop-${size}`), size);
    const rows = [];
    for (const [method, send] of Object.entries(METHODS)) {
      const samples = [];
      for (let i = 0; i < runs; i++) samples.push(await once(send, file));
      rows.push({
        scenario: 'event-loop', method, transfers: TRANSFERS, size, runs,
        delayP50Ms: median(samples.map((s) => s.p50)),
        delayP99Ms: median(samples.map((s) => s.p99)),
        delayMaxMs: median(samples.map((s) => s.max)),
        gbPerSecond: median(samples.map((s) => s.gbPerSecond)),
      });
    }
    teardown();
    return rows;
  },
  print(rows, table) {
    console.log(`${rows[0].transfers} × ${rows[0].size / MiB} MiB, medians of ${rows[0].runs} runs`);
    table(['method', 'delay p50 ms', 'p99 ms', 'max ms', 'total GB/s'], rows.map((r) => [
      r.method, fixed(r.delayP50Ms, 2), fixed(r.delayP99Ms, 2), fixed(r.delayMaxMs, 2), fixed(r.gbPerSecond, 2),
    ]));
  },
};
