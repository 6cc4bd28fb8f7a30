// A writer in a process of its own: for each line on stdin (a path), opens it for writing and prints when the
// open started and returned, in ms since the epoch (performance.timeOrigin + now: sub-ms precision).
import { closeSync, openSync } from 'node:fs';
import { createInterface } from 'node:readline';

const now = () => performance.timeOrigin + performance.now();
for await (const file of createInterface({ input: process.stdin })) {
  const start = now();
  closeSync(openSync(file, 'r+'));
  process.stdout.write(JSON.stringify({ start, end: now() }) + '\n');
}
