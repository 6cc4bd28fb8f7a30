// `npm run bench` as a newcomer runs it, in its smallest configuration: every scenario runs and prints its
// table, and the JSON and SVG it writes have the expected shape (not the numbers: timing belongs in bench/).
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FALLBACK, tempDir } from './helpers';

const repo = path.resolve(__dirname, '..');
const dir = tempDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const SCENARIOS = ['file-to-socket', 'small-files', 'crossover', 'http', 'event-loop', 'relay', 'upload',
  'file-to-pipe', 'file-to-file', 'mmap-hash', 'mmap-scan', 'lease', 'lease-cost', 'direct'];

describe.skipIf(FALLBACK)('npm run bench', () => {
  it('runs every scenario (--smoke) and writes the JSON and the SVG chart', () => {
    const json = path.join(dir, 'run.json');
    const stdout = execFileSync(process.execPath, [path.join(repo, 'bench', 'run.mjs'), '--smoke', '--json', json],
      { cwd: repo, encoding: 'utf8', stdio: 'pipe', timeout: 180_000 });
    for (const name of SCENARIOS) expect(stdout).toContain(`(${name}: `);
    expect(stdout).toContain('sendFile costs less sender CPU per file from');

    const report = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(report.machine).toMatchObject({ cpus: expect.any(Number), kernel: expect.any(String), node: process.version });
    expect(new Set(report.results.map((r: { scenario: string }) => r.scenario))).toEqual(new Set(SCENARIOS));
    const throughput = report.results.filter((r: { ratio?: number }) => r.ratio !== undefined);
    for (const row of throughput) {
      expect(row).toMatchObject({ method: expect.any(String), size: expect.any(Number), baseline: expect.any(String) });
      expect(Number.isFinite(row.ratio)).toBe(true);
    }
    const baselines = throughput.filter((r: { method: string; baseline: string }) => r.method === r.baseline);
    for (const row of baselines) expect(row.ratio).toBe(1);

    const svg = fs.readFileSync(json.replace(/\.json$/, '.svg'), 'utf8');
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    const panels = [...svg.matchAll(/<g class="panel" data-scenario="([^"]+)">/g)].map((m) => m[1]);
    expect(new Set(panels)).toEqual(new Set(throughput.map((r: { scenario: string }) => r.scenario)));
    expect(svg.match(/<rect [^>]*><title>/g)?.length).toBe(throughput.length);
    expect((svg.match(/<g /g) ?? []).length).toBe((svg.match(/<\/g>/g) ?? []).length);
  });

  it('uses only the package\'s public exports', () => {
    const files = fs.readdirSync(path.join(repo, 'bench'), { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.mjs'));
    for (const file of files) {
      const code = fs.readFileSync(path.join(repo, 'bench', file), 'utf8');
      for (const [, from] of code.matchAll(/from '([^']+)'/g)) {
        expect(from, `${file} imports ${from}`).toMatch(/^(node:|zerocopy$|\.\.?\/|send$)/);
      }
    }
  });
});

describe('npm run bench -- --help and bad flags', () => {
  const bench = (args: string[]) => spawnSync(process.execPath, [path.join(repo, 'bench', 'run.mjs'), ...args],
    { cwd: repo, encoding: 'utf8', timeout: 30_000 });

  it('lists every flag and every scenario under --help, and runs nothing', () => {
    for (const flag of ['--help', '-h']) {
      const run = bench([flag]);
      expect(run.status, flag).toBe(0);
      for (const name of ['--quick', '--full', '--only <scenario>', '--json <file>', '--runs <n>', '--smoke', '-h, --help']) {
        expect(run.stdout, name).toMatch(new RegExp(`^  ${name.replace(/[<>]/g, '\\$&')} `, 'm'));
      }
      for (const name of SCENARIOS) expect(run.stdout, name).toMatch(new RegExp(`^  ${name} +\\S`, 'm'));
      expect(run.stderr).toBe('');
    }
  });

  it('answers an unknown flag and a missing value with one line on stderr, exit 2', () => {
    for (const args of [['--bogus'], ['--runs']]) {
      const run = bench(args);
      expect(run.status, args[0]).toBe(2);
      expect(run.stdout).toBe('');
      expect(run.stderr.trimEnd().split('\n'), args[0]).toHaveLength(1);
      expect(run.stderr).toMatch(/^bench: .*'--(bogus|runs)/);
      expect(run.stderr).toContain('--help');
    }
  });

  it('refuses a --runs that is no whole number from 1 and an unknown --only among known ones, before any setup', () => {
    const json = path.join(dir, 'refused.json');
    const cases: [string[], RegExp][] = [
      [['--runs', '0'], /^bench: --runs must be a whole number from 1, got "0"/],
      [['--runs', 'abc'], /^bench: --runs must be a whole number from 1, got "abc"/],
      [['--runs', '2.5'], /^bench: --runs must be a whole number from 1, got "2.5"/],
      [['--only', 'nope', '--only', 'file-to-file', '--smoke'], /^bench: no such scenario: nope; choose from: /],
    ];
    for (const [args, message] of cases) {
      const run = bench(['--only', 'file-to-file', ...args, '--json', json]);
      expect(run.status, args.join(' ')).toBe(2);
      expect(run.stdout, args.join(' ')).toBe('');
      expect(run.stderr.trimEnd().split('\n'), args.join(' ')).toHaveLength(1);
      expect(run.stderr, args.join(' ')).toMatch(message);
    }
    expect(fs.existsSync(json)).toBe(false);
  });
});
