#!/usr/bin/env node
// npm's install step: load a prebuilt addon, else compile one; if neither works, say so in one line and exit 0,
// because every call has a read/write fallback and a failed compile must not fail the user's `npm install`.
'use strict';
const { spawnSync } = require('node:child_process');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..');
const FIX = 'to fix it, install a C++ toolchain (python3, make, g++) and run `npm rebuild zerocopy`';

/**
 * The addon that node-gyp-build would load (build/ first, then prebuilds/), if it loads here. Tried in a child
 * process: a damaged file can kill the loader (SIGBUS on a truncated one), and that is a failed load, not a failed
 * install.
 */
function loads() {
  const script = `require(${JSON.stringify(require.resolve('node-gyp-build'))})(${JSON.stringify(root)})`;
  return spawnSync(process.execPath, ['-e', script], { stdio: 'ignore', timeout: 60_000 }).status === 0;
}

/** node-gyp: our own dev dependency, else npm's bundled copy (npm names it), else whatever is on PATH. */
function nodeGyp() {
  try {
    return [process.execPath, require.resolve('node-gyp/bin/node-gyp.js', { paths: [root] })];
  } catch {
    const bundled = process.env.npm_config_node_gyp;
    return bundled ? [process.execPath, bundled] : ['node-gyp'];
  }
}

/**
 * Compiles into build/; on failure, the cause node-gyp names (its whole log with npm's --loglevel verbose). Up to
 * four files at once: twice as fast on two cores, and a few compilers' memory at most where cores are many.
 */
function build() {
  const [command, ...args] = nodeGyp();
  const jobs = String(Math.min(os.availableParallelism(), 4));
  const run = spawnSync(command, [...args, 'rebuild', '--jobs', jobs],
    { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
  if (run.error) return `cannot run node-gyp: ${run.error.code ?? run.error.message}`;
  if (run.status === 0) return undefined;
  if (/^(verbose|silly)$/.test(process.env.npm_config_loglevel ?? '')) process.stderr.write(run.stdout + run.stderr);
  // node-gyp ends with "gyp ERR! stack Error: <cause>" (no Python, `make` not found, a compile error, ...).
  const cause = /gyp ERR! stack (?:Error: )?(.+)/.exec(run.stderr)?.[1];
  return cause ?? `node-gyp exited with ${run.status ?? run.signal}`;
}

const fromSource = process.env.npm_config_build_from_source === 'true';
if (fromSource || !loads()) {
  const failure = build();
  const platform = `${process.platform}-${process.arch}`;
  if (failure !== undefined && loads()) {
    // --build-from-source with a prebuild that loads: zero-copy stands, only the compile did not.
    console.error(`zerocopy: compiling the addon failed (${failure}); the prebuilt addon for ${platform} is used.`);
  } else if (failure !== undefined || !loads()) {
    console.error(`zerocopy: no prebuilt addon for ${platform} loads here and compiling one failed ` +
      `(${failure ?? 'the build does not load'}): every call will use read/write instead of zero-copy; ${FIX}.`);
  }
}
