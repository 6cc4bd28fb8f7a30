// A separate receiving process: says it is ready, reads its stdin (a pipe) to the end, then reports bytes and
// the CPU seconds it spent reading, so that the receiver's cost is measured apart from the sender's.
// (process is used as the global: a named import from 'node:process' touches process.stdin, which turns
// fd 0 non-blocking.)
import { readSync } from 'node:fs';

const buf = Buffer.allocUnsafe(1 << 20);
let bytes = 0;
process.stdout.write('ready\n');
const start = process.cpuUsage();
for (;;) {
  const n = readSync(0, buf, 0, buf.length, null);
  if (n === 0) break;
  bytes += n;
}
const cpu = process.cpuUsage(start);
process.stdout.write(JSON.stringify({ bytes, cpu: (cpu.user + cpu.system) / 1e6 }) + '\n');
