// HTTP load for the serving scenario: bench/native/load.c, the bench's own load generator (C, epoll, keep-alive,
// one thread: see there), always. wrk, when installed, only cross-checks it (`--cross-check`).
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { nativeProgram } from './native.mjs';

const run = promisify(execFile);

// A connection that stops moving for this long is counted as a timeout and replaced.
const TIMEOUT_SECONDS = 10;

/**
 * `connections` keep-alive connections loading `url` for `seconds`: the load generator's JSON line (requests,
 * seconds, bytes, non2xx, socketErrors, connectErrors, badResponses, timeouts, latencyUs) plus `errors`, their
 * sum. Throws Skipped when the load generator cannot be built here.
 */
export async function load(url, { connections, seconds }) {
  const program = nativeProgram('load');
  const { stdout } = await run(program, ['-c', String(connections), '-d', String(seconds), '-t', String(TIMEOUT_SECONDS), url],
    { timeout: Math.ceil((seconds + TIMEOUT_SECONDS + 5) * 1000) });
  const result = JSON.parse(stdout);
  const errors = result.non2xx + result.socketErrors + result.connectErrors + result.badResponses + result.timeouts;
  return { ...result, errors };
}

export function wrkInstalled() {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
    return true;
  } catch (err) {
    // wrk --version exits 1 after printing; a wrk that cannot run (ENOENT, EACCES) has no exit status.
    return typeof err.status === 'number';
  }
}

const UNITS = { us: 1e-6, ms: 1e-3, s: 1, m: 60 };

/** The same load from wrk (one thread; whole seconds): requests, seconds and errors, for the cross-check. */
export async function loadWithWrk(url, { connections, seconds }) {
  const { stdout } = await run('wrk', ['-t1', `-c${connections}`, `-d${Math.max(1, Math.round(seconds))}s`, '--timeout', `${TIMEOUT_SECONDS}s`, url]);
  const done = /(\d+) requests in ([\d.]+)(us|ms|s|m)/.exec(stdout);
  if (!done) throw new Error(`cannot read wrk's output:\n${stdout}`);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0);
  const socketErrors = (/Socket errors: (.*)/.exec(stdout)?.[1] ?? '').match(/\d+/g)?.reduce((a, b) => a + Number(b), 0) ?? 0;
  return { requests: Number(done[1]), seconds: Number(done[2]) * UNITS[done[3]], errors: non2xx + socketErrors };
}
