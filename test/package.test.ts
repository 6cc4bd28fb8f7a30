// The published package: `npm pack` with a prebuild inside installs into an empty project and loads without
// compiling (no build/ made, no compiler on PATH), from require and import, with its types.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FALLBACK, tempDir } from './helpers';

const repo = path.resolve(__dirname, '..');
// npm's own script, run by whichever node runs this suite (Node 22 and 24 from the registry ship without npm).
const npmCli = fs.realpathSync(execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim());
const work = tempDir();
const project = path.join(work, 'consumer');
// Only node and sh (npm runs scripts through it): no g++, make or python, so compiling would fail the install.
const bareBin = path.join(work, 'bin');

function npm(args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): string {
  return execFileSync(process.execPath, [npmCli, ...args], { cwd, env, encoding: 'utf8', stdio: 'pipe' });
}

function node(args: string[]): string {
  return execFileSync(process.execPath, args, { cwd: project, encoding: 'utf8', stdio: 'pipe' }).trim();
}

afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

describe.skipIf(FALLBACK)('packed tarball with a prebuild', () => {
  beforeAll(() => {
    if (!fs.existsSync(path.join(repo, 'lib', 'index.js'))) npm(['run', 'build:ts'], repo);
    // Stage the packed files, build the prebuild there (the repo's own build/ stays untouched), pack again.
    const first = npm(['pack', '--ignore-scripts', '--pack-destination', work], repo).trim().split('\n').pop()!;
    execFileSync('tar', ['xzf', path.join(work, first), '-C', work]);
    fs.rmSync(path.join(work, first));
    const staged = path.join(work, 'package');
    fs.symlinkSync(path.join(repo, 'node_modules'), path.join(staged, 'node_modules'));
    npm(['run', 'prebuild'], staged);
    fs.rmSync(path.join(staged, 'build'), { recursive: true, force: true });
    fs.unlinkSync(path.join(staged, 'node_modules'));
    const tarball = npm(['pack', '--ignore-scripts', '--pack-destination', work], staged).trim().split('\n').pop()!;

    fs.mkdirSync(project);
    fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
    fs.mkdirSync(bareBin);
    fs.symlinkSync(process.execPath, path.join(bareBin, 'node'));
    fs.symlinkSync('/bin/sh', path.join(bareBin, 'sh'));
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: bareBin, npm_config_prefer_offline: 'true' };
    for (const key of Object.keys(env)) if (/^npm_(config_)?(lifecycle|package)/.test(key)) delete env[key];
    npm(['install', '--no-audit', '--no-fund', path.join(work, tarball)], project, env);
  }, 240_000);

  it('contains the prebuild and the compiled library', () => {
    const installed = path.join(project, 'node_modules', 'zerocopy');
    expect(fs.readdirSync(path.join(installed, 'prebuilds', `linux-${process.arch}`))).toContain('zerocopy.glibc.node');
    expect(fs.existsSync(path.join(installed, 'lib', 'index.d.ts'))).toBe(true);
    expect(fs.existsSync(path.join(installed, 'build'))).toBe(false);
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
});
