// The published package as a user gets it: `npm pack` on a clean tree (the package's own prepack builds the
// prebuild) installs into an empty project with no compiler on PATH and loads natively, from require and import,
// with its types; without the prebuild the install still succeeds, and the fallback says why and how to fix it.
import { type SpawnSyncReturns, execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FALLBACK, tempDir } from './helpers';

const repo = path.resolve(__dirname, '..');
// npm's own script, run by whichever node runs this suite (Node 22 and 24 from the registry ship without npm).
const npmCli = fs.realpathSync(execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim());
const work = tempDir();
const project = path.join(work, 'consumer');
const bareProject = path.join(work, 'consumer-without-prebuild');
// Only node and sh (npm runs scripts through it): no g++, make or python, so compiling would fail the install.
const bareBin = path.join(work, 'bin');
const FIX = 'install a C++ toolchain (python3, make, g++) and run `npm rebuild zerocopy`';

/** This process's environment without what would steer a child: npm's script variables, the forced fallback. */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  for (const key of Object.keys(env)) if (/^npm_(config_)?(lifecycle|package)/.test(key)) delete env[key];
  delete env.ZEROCOPY_FORCE_FALLBACK;
  return env;
}

function npm(args: string[], cwd: string, env: NodeJS.ProcessEnv = cleanEnv()): string {
  return execFileSync(process.execPath, [npmCli, ...args], { cwd, env, encoding: 'utf8', stdio: 'pipe' });
}

/** npm install from a tarball, offline from the cache, with the PATH that has no compiler; stdout and stderr. */
function installBare(dir: string, tarball: string): string {
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
  const env = cleanEnv({ PATH: bareBin, npm_config_prefer_offline: 'true' });
  // --foreground-scripts: npm would hide the install script's output of a dependency that succeeds.
  const run = spawnSync(process.execPath, [npmCli, 'install', '--no-audit', '--no-fund', '--foreground-scripts', tarball],
    { cwd: dir, env, encoding: 'utf8', timeout: 240_000 });
  if (run.status !== 0) throw new Error(`npm install failed (${run.status ?? run.signal}):\n${run.stdout}${run.stderr}`);
  return run.stdout + run.stderr;
}

function nodeIn(dir: string, args: string[], env: NodeJS.ProcessEnv = {}): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, args, { cwd: dir, env: cleanEnv(env), encoding: 'utf8', timeout: 60_000 });
}

function node(args: string[]): string {
  const run = nodeIn(project, args);
  if (run.status !== 0) throw new Error(`node ${args.join(' ')} failed:\n${run.stderr}`);
  return run.stdout.trim();
}

afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

describe.skipIf(FALLBACK)('packed tarball from a clean tree', () => {
  let bareInstallLog: string;

  beforeAll(() => {
    // A clean tree: the files git tracks or would track (with their uncommitted changes), no build/, lib/ or
    // prebuilds/; node_modules as `npm ci` left it.
    const tree = path.join(work, 'tree');
    const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: repo, encoding: 'utf8' })
      .split('\0').filter((f) => f !== '' && fs.existsSync(path.join(repo, f)));
    for (const f of files) fs.cpSync(path.join(repo, f), path.join(tree, f));
    fs.symlinkSync(path.join(repo, 'node_modules'), path.join(tree, 'node_modules'));
    // The lifecycle builds it all: prepack the prebuild (prebuildify), prepare the library (tsc).
    // JOBS: node-gyp under prebuildify compiles on every core.
    const packed = npm(['pack', '--pack-destination', work], tree, cleanEnv({ JOBS: 'max' }));
    const tarball = path.join(work, packed.trim().split('\n').pop()!);

    fs.mkdirSync(bareBin);
    fs.symlinkSync(process.execPath, path.join(bareBin, 'node'));
    fs.symlinkSync('/bin/sh', path.join(bareBin, 'sh'));
    installBare(project, tarball);

    // The same package without its prebuild, as on a platform the tag build does not cover.
    const unpacked = path.join(work, 'unpacked');
    fs.mkdirSync(unpacked);
    execFileSync('tar', ['xzf', tarball, '-C', unpacked]);
    fs.rmSync(path.join(unpacked, 'package', 'prebuilds'), { recursive: true });
    const withoutPrebuild = npm(['pack', '--ignore-scripts', '--pack-destination', unpacked], path.join(unpacked, 'package')).trim().split('\n').pop()!;
    bareInstallLog = installBare(bareProject, path.join(unpacked, withoutPrebuild));
  }, 600_000);

  it('contains the prebuild and the compiled library', () => {
    const installed = path.join(project, 'node_modules', 'zerocopy');
    expect(fs.readdirSync(path.join(installed, 'prebuilds', `linux-${process.arch}`))).toContain('zerocopy.glibc.node');
    expect(fs.existsSync(path.join(installed, 'lib', 'index.d.ts'))).toBe(true);
    expect(fs.existsSync(path.join(installed, 'build'))).toBe(false);
  });

  it('ships the sources its source maps point to', () => {
    const lib = path.join(project, 'node_modules', 'zerocopy', 'lib');
    const maps = (fs.readdirSync(lib, { recursive: true }) as string[]).filter((f) => f.endsWith('.js.map'));
    expect(maps.length).toBeGreaterThan(10);
    for (const map of maps) {
      const { sources } = JSON.parse(fs.readFileSync(path.join(lib, map), 'utf8')) as { sources: string[] };
      for (const source of sources) expect(fs.existsSync(path.resolve(lib, path.dirname(map), source)), `${map} -> ${source}`).toBe(true);
    }
  });

  it('loads with ZEROCOPY_REQUIRE_NATIVE=1 where the addon is there', () => {
    const run = nodeIn(project, ['-e', "console.log(require('zerocopy').capabilities().native)"], { ZEROCOPY_REQUIRE_NATIVE: '1' });
    expect(run.stdout.trim()).toBe('true');
  });

  it('loads natively from require', () => {
    const out = node(['-e', "const z = require('zerocopy'); console.log(JSON.stringify(z.capabilities()))"]);
    expect(JSON.parse(out)).toMatchObject({ native: true, sendfile: true, splice: true });
  });

  it('loads natively from import, with named exports', () => {
    const out = node([
      '--input-type=module',
      '-e',
      "import { capabilities, sendfileSync, createPipe } from 'zerocopy'; " +
        "console.log(capabilities().native, typeof sendfileSync, typeof createPipe)",
    ]);
    expect(out).toBe('true function function');
  });

  it('installs the zerocopy command (npx zerocopy serve)', () => {
    const bin = path.join(project, 'node_modules', '.bin', 'zerocopy');
    expect(fs.realpathSync(bin)).toBe(fs.realpathSync(path.join(project, 'node_modules', 'zerocopy', 'bin', 'zerocopy.js')));
    expect(node([bin, '--help'])).toContain('Usage: zerocopy serve [dir]');
  });

  it('type-checks consumers written as ESM and as CommonJS', () => {
    const src = `
      const pipe: Pipe = createPipe({ size: 65536 });
      const n: number = spliceSync(pipe.readFd, pipe.writeFd, 1, { offsetIn: 1n, nonBlock: true });
      const caps: Capabilities = capabilities();
      // @ts-expect-error length is required
      sendfileSync(1, 2, {});
      export { n, caps };`;
    fs.writeFileSync(path.join(project, 'esm.mts'),
      `import { createPipe, spliceSync, capabilities, sendfileSync, type Pipe, type Capabilities } from 'zerocopy';${src}`);
    fs.writeFileSync(path.join(project, 'cjs.cts'),
      `import zc = require('zerocopy');\nconst { createPipe, spliceSync, capabilities, sendfileSync } = zc;\n` +
        `type Pipe = zc.Pipe; type Capabilities = zc.Capabilities;${src}`);
    const tsc = path.join(repo, 'node_modules', 'typescript', 'bin', 'tsc');
    const args = [tsc, '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext',
      '--types', 'node', '--typeRoots', path.join(repo, 'node_modules', '@types'), 'esm.mts', 'cjs.cts'];
    expect(() => node(args)).not.toThrow();
  });

  it('installs without the prebuild and without a compiler, saying in one line what is missing and how to fix it', () => {
    const lines = bareInstallLog.split('\n').filter((l) => l.startsWith('zerocopy: '));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^zerocopy: no prebuilt addon for linux-\w+ loads here and compiling one failed \(.+\): every call will use read\/write instead of zero-copy; to fix it, /);
    expect(lines[0]).toContain(FIX);
    // node-gyp's own log stays out of it (npm --loglevel verbose shows it).
    expect(bareInstallLog).not.toContain('gyp ERR!');
    expect(fs.existsSync(path.join(bareProject, 'node_modules', 'zerocopy', 'lib', 'index.js'))).toBe(true);
  });

  it('falls back with a reason that names the fix, and warns once (ZEROCOPY_FALLBACK) at the first fallback', () => {
    const script = `
      const fs = require('fs');
      const { capabilities, copyFileRange, stats } = require('zerocopy');
      process.on('warning', (w) => console.log(JSON.stringify({ warning: w.code, message: w.message })));
      fs.writeFileSync('in.txt', 'x'.repeat(100000));
      (async () => {
        console.log(JSON.stringify({ warnedBeforeUse: false, caps: capabilities() }));
        for (let i = 0; i < 3; i++) await copyFileRange('in.txt', 'out.txt');
        console.log(JSON.stringify({ fallbacks: stats().fallbacks, same: fs.readFileSync('out.txt', 'utf8') === fs.readFileSync('in.txt', 'utf8') }));
      })();`;
    const run = nodeIn(bareProject, ['-e', script]);
    expect(run.status, run.stderr).toBe(0);
    const out = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const caps = out[0].caps as { native: boolean; reason: string };
    expect(caps.native).toBe(false);
    expect(caps.reason).toBe(`no prebuilt addon for linux-${process.arch} and no local build; every call uses read/write. To fix it, ${FIX}`);
    const warnings = out.filter((o) => o.warning !== undefined);
    expect(warnings).toEqual([{ warning: 'ZEROCOPY_FALLBACK', message: `zerocopy is not zero-copy in this process: ${caps.reason}` }]);
    expect(out.at(-1)).toEqual({ fallbacks: { 'no-binding': 3 }, same: true });
    // Node prints it on stderr too, with its code.
    expect(run.stderr.match(/\[ZEROCOPY_FALLBACK\] Warning: zerocopy is not zero-copy in this process: /g)).toHaveLength(1);
  
    // A raw synchronous call is a fallback use too.
    const raw = nodeIn(bareProject, ['-e', `
      const fs = require('fs');
      const { copyFileRangeSync } = require('zerocopy');
      process.on('warning', (w) => console.log(w.code));
      fs.writeFileSync('in.txt', 'hello');
      console.log(copyFileRangeSync(fs.openSync('in.txt', 'r'), fs.openSync('raw.txt', 'w'), 5));`]);
    expect(raw.stdout.trim().split('\n').sort()).toEqual(['5', 'ZEROCOPY_FALLBACK']);
    // Importing it and asking what it can do is no use yet: no warning.
    const quiet = nodeIn(bareProject, ['-e', `
      process.on('warning', (w) => console.log(w.code));
      console.log(require('zerocopy').capabilities().native);
      setTimeout(() => console.log('quiet'), 50);`]);
    expect(quiet.stdout.trim().split('\n')).toEqual(['false', 'quiet']);
  });

  /** A copy of the installed project, for a test that damages or rebuilds it. */
  function copyOfProject(name: string): { dir: string; installed: string } {
    const dir = path.join(work, name);
    fs.cpSync(project, dir, { recursive: true, verbatimSymlinks: true });
    return { dir, installed: path.join(dir, 'node_modules', 'zerocopy') };
  }

  /** The package's install script as npm runs it, with no compiler on PATH. */
  function installScript(installed: string, env: NodeJS.ProcessEnv = {}): SpawnSyncReturns<string> {
    return spawnSync(process.execPath, ['scripts/install.js'],
      { cwd: installed, env: cleanEnv({ PATH: bareBin, ...env }), encoding: 'utf8', timeout: 120_000 });
  }

  it('survives a truncated prebuild: the install says it in one line, exit 0; require falls back naming the file', () => {
    const { dir, installed } = copyOfProject('consumer-truncated-prebuild');
    const prebuild = path.join(installed, 'prebuilds', `linux-${process.arch}`, 'zerocopy.glibc.node');
    fs.truncateSync(prebuild, 20000);
    // dlopen of it dies of SIGBUS: the install script and the import must not be the process that tries.
    const install = installScript(installed);
    expect({ status: install.status, signal: install.signal }).toEqual({ status: 0, signal: null });
    expect(install.stderr.split('\n')).toEqual([expect.stringMatching(
      /^zerocopy: no prebuilt addon for linux-\w+ loads here and compiling one failed \(.+\): every call will use read\/write/), '']);
    expect(install.stderr).toContain(FIX);
    const run = nodeIn(dir, ['-e', "console.log(JSON.stringify(require('zerocopy').capabilities()))"]);
    expect({ status: run.status, signal: run.signal }).toEqual({ status: 0, signal: null });
    const caps = JSON.parse(run.stdout) as { native: boolean; reason: string };
    expect(caps.native).toBe(false);
    expect(caps.reason.startsWith(`the native addon ${prebuild} is damaged (truncated: 20000 bytes where its ELF headers need `),
      caps.reason).toBe(true);
    expect(caps.reason).toContain('); every call uses read/write. To fix it, reinstall zerocopy, or ');
    expect(caps.reason).toContain(FIX);
  });

  it('with --build-from-source whose compile fails, says the prebuilt addon is used', () => {
    const { dir, installed } = copyOfProject('consumer-build-from-source');
    const install = installScript(installed, { npm_config_build_from_source: 'true' });
    expect(install.status).toBe(0);
    expect(install.stderr).toMatch(/^zerocopy: compiling the addon failed \(.+\); the prebuilt addon for linux-\w+ is used\.\n$/);
    expect(nodeIn(dir, ['-e', "console.log(require('zerocopy').capabilities().native)"]).stdout.trim()).toBe('true');
  });

  it('refuses to load with ZEROCOPY_REQUIRE_NATIVE=1 where the addon is missing, from require and import', () => {
    const env = { ZEROCOPY_REQUIRE_NATIVE: '1' };
    const required = nodeIn(bareProject, ['-e', "try { require('zerocopy') } catch (e) { console.log(e.code, e.message); process.exit(3) }"], env);
    expect(required.status).toBe(3);
    expect(required.stdout).toMatch(/^ERR_ZEROCOPY_NATIVE_REQUIRED zerocopy: ZEROCOPY_REQUIRE_NATIVE=1 but the native addon is not in use: no prebuilt addon/);
    expect(required.stdout).toContain(FIX);
    const imported = nodeIn(bareProject, ['--input-type=module', '-e', "import 'zerocopy'"], env);
    expect(imported.status).toBe(1);
    expect(imported.stderr).toContain('ERR_ZEROCOPY_NATIVE_REQUIRED');
    // Without the variable the same package loads and falls back.
    expect(nodeIn(bareProject, ['-e', "require('zerocopy')"]).status).toBe(0);
  });
});
