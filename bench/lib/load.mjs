// HTTP load for the serving scenario: wrk when installed (C, light on a 2-core machine), else autocannon (npm).
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import autocannon from 'autocannon';

const run = promisify(execFile);

function hasWrk() {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
    return true;
  } catch (err) {
    return err.status !== undefined && err.code !== 'ENOENT'; // wrk --version exits 1 after printing
  }
}

// BENCH_LOAD=autocannon chooses autocannon even where wrk is installed.
export const loadGenerator = process.env.BENCH_LOAD === 'autocannon' || !hasWrk() ? 'autocannon' : 'wrk';

const UNITS = { us: 1e-6, ms: 1e-3, s: 1, m: 60 };

/** `connections` keep-alive connections hammering `url` for `seconds`: completed requests, errors, time taken. */
export async function load(url, { connections, seconds }) {
  if (loadGenerator === 'wrk') {
    const { stdout } = await run('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '10s', url]);
    const done = /(\d+) requests in ([\d.]+)(us|ms|s|m)/.exec(stdout);
    if (!done) throw new Error(`cannot read wrk's output:\n${stdout}`);
    const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0);
    const socketErrors = /Socket errors: (.*)/.exec(stdout)?.[1];
    return { requests: Number(done[1]), seconds: Number(done[2]) * UNITS[done[3]], errors: non2xx, socketErrors };
  }
  const result = await autocannon({ url, connections, duration: seconds });
  return { requests: result.requests.total, seconds: result.duration, errors: result.non2xx + result.errors };
}
