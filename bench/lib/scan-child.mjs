// One run of the mmap scenarios in a fresh process, so that its peak RSS is its own:
//   node scan-child.mjs <readFile|read loop|map> <hash|scan> <file>
// prints { seconds, senderCpu, peakRssMiB, anonRssMiB, result }. Peak RSS counts the file's page-cache pages
// while they are mapped; anonymous RSS, sampled while the bytes are still held, is the private memory the
// method needed (a copy of the file, for readFile).
import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { mapSync } from 'zerocopy';

const [method, op, file] = process.argv.slice(2);
const CHUNK = 1 << 20;

function consumer() {
  if (op === 'hash') {
    const hash = createHash('sha256');
    return { take: (buf) => hash.update(buf), result: () => hash.digest('hex') };
  }
  // scan: count newline bytes at memchr speed, so the cost of getting the bytes is what shows
  let count = 0;
  return {
    take: (buf) => {
      for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, i + 1)) count++;
    },
    result: () => count,
  };
}

let anonRssMiB = 0;
function sampleAnon() {
  const kib = /RssAnon:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  anonRssMiB = Number(kib) / 1024;
}

const readers = {
  readFile(take) {
    take(readFileSync(file));
    sampleAnon();
  },
  'read loop'(take) {
    const fd = openSync(file, 'r');
    const buf = Buffer.allocUnsafe(CHUNK);
    for (let n; (n = readSync(fd, buf, 0, CHUNK, null)) > 0;) take(buf.subarray(0, n));
    sampleAnon();
    closeSync(fd);
  },
  map(take) {
    const mapping = mapSync(file, { advice: 'sequential' });
    take(mapping.buffer);
    sampleAnon();
    mapping.unmap();
  },
};

const cpu0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
const { take, result } = consumer();
readers[method](take);
const value = result();
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
const cpu = process.cpuUsage(cpu0);
process.stdout.write(JSON.stringify({
  seconds,
  senderCpu: (cpu.user + cpu.system) / 1e6,
  peakRssMiB: process.resourceUsage().maxRSS / 1024,
  anonRssMiB,
  result: value,
}));
