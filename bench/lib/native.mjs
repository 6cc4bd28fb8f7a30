// Builds the C programs in bench/native/ (the baselines and the load generator) with the system compiler, once
// per bench run.
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Skipped } from './skipped.mjs';

const built = new Map(); // name -> { path } or { problem }

function build(name) {
  if (built.has(name)) return built.get(name);
  const source = new URL(`../native/${name}.c`, import.meta.url).pathname;
  const out = join(mkdtempSync(join(tmpdir(), 'zerocopy-native-')), name);
  const compiler = process.env.CC ?? 'cc';
  let result;
  try {
    execFileSync(compiler, ['-O2', '-o', out, source], { stdio: 'pipe' });
    result = { path: out };
  } catch (err) {
    const why = err.code === 'ENOENT' ? `no C compiler (${compiler})` : (err.stderr?.toString() || err.message).split('\n')[0];
    result = { problem: `building bench/native/${name}.c failed: ${why}` };
  }
  built.set(name, result);
  return result;
}

/** The path of bench/native/<name>.c compiled; throws Skipped (with why) when it cannot be built here. */
export function nativeProgram(name) {
  const { path, problem } = build(name);
  if (!path) throw new Skipped(problem);
  return path;
}
