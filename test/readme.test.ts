// The README's examples run as written: each js block that uses the package is executed against this checkout,
// and every `console.log(...); // expected` line must print what its comment says.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FALLBACK, tempDir } from './helpers';

const repo = path.resolve(__dirname, '..');
const readme = fs.readFileSync(path.join(repo, 'README.md'), 'utf8');
const blocks = [...readme.matchAll(/```js\n([\s\S]*?)```/g)]
  .map((m) => m[1])
  .filter((code) => /(require\('zerocopy'\)|from 'zerocopy')/.test(code));

const dir = tempDir();
fs.mkdirSync(path.join(dir, 'node_modules'));
fs.symlinkSync(repo, path.join(dir, 'node_modules', 'zerocopy'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function expectedOutput(code: string): string[] {
  return [...code.matchAll(/console\.log\(.*\);\s*\/\/ (.*)$/gm)].map((m) => m[1]);
}

describe.skipIf(FALLBACK)('README examples', () => {
  it('has examples to run', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(8);
  });

  it.each(blocks.map((code, i) => [i, code] as const))('example %i runs and prints what it says', (i, code) => {
    if (!fs.existsSync(path.join(repo, 'lib', 'index.js'))) throw new Error('lib/ is not built: npm run build:ts');
    const file = path.join(dir, `example-${i}.${code.includes('import ') ? 'mjs' : 'cjs'}`);
    fs.writeFileSync(file, code);
    const stdout = execFileSync(process.execPath, [file], { cwd: dir, encoding: 'utf8', stdio: 'pipe' });
    const lines = stdout.split('\n');
    for (const expected of expectedOutput(code)) expect(lines).toContain(expected);
  });
});
