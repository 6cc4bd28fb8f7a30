// Reading a page-cached file through a mapping against fs.readFile and a 1 MiB read loop, hashing (sha256) or
// scanning (counting newlines) it: throughput, and the reading process's peak RSS and anonymous RSS (the
// private memory it needed). Each run is a fresh process.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);
const child = new URL('../lib/scan-child.mjs', import.meta.url).pathname;
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

function inChild(method, op) {
  return ({ file }) => async () => async () => {
    const { stdout } = await run(process.execPath, [child, method, op, file], { maxBuffer: MiB });
    const { seconds, senderCpu, peakRssMiB, anonRssMiB } = JSON.parse(stdout);
    return { seconds, senderCpu, peakRssMiB, anonRssMiB };
  };
}

function scenario(op, title) {
  return {
    name: `mmap-${op}`,
    title,
    baseline: 'read loop',
    sizes: (full) => (full ? [GiB] : [256 * MiB]),
    methods: {
      'read loop': inChild('read loop', op),
      readFile: inChild('readFile', op),
      map: inChild('map', op),
    },
  };
}

export const mmapHash = scenario('hash', 'sha256 of a page-cached file (each run a fresh process)');
export const mmapScan = scenario('scan', 'scanning a page-cached file for newlines (each run a fresh process)');
