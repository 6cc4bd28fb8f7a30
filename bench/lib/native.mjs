// Builds the C baselines in bench/native/ with the system compiler, once per bench run.
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const built = new Map();

/** The path of bench/native/<name>.c compiled, or undefined (with a note) when there is no compiler. */
export function nativeProgram(name) {
  if (built.has(name)) return built.get(name);
  const source = new URL(`../native/${name}.c`, import.meta.url).pathname;
  const out = join(mkdtempSync(join(tmpdir(), 'zerocopy-native-')), name);
  let path;
  try {
    execFileSync(process.env.CC ?? 'cc', ['-O2', '-o', out, source], { stdio: 'pipe' });
    path = out;
  } catch (err) {
    console.error(`(no C baseline: building ${name}.c failed: ${err.message.split('\n')[0]})`);
  }
  built.set(name, path);
  return path;
}
