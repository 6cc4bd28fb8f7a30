// A writer of a file the server holds a lease on never waits /proc/sys/fs/lease-break-time (45 s), whatever
// happens to the lease thread's signal: a full queued-signal quota, or a server stopped by Ctrl-Z.
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { ChildServer, walkableDirs } from './cache-server';
import { FALLBACK } from './helpers';

const freshDir = walkableDirs(); // the unprivileged server below walks through it

/** Another process saving the file in place (open O_WRONLY|O_TRUNC), killed after `timeout` ms if still waiting. */
function saveElsewhere(file: string, bytes: string, timeout: number): string {
  const started = Date.now();
  try {
    execFileSync(process.execPath, ['-e', `require('fs').writeFileSync(${JSON.stringify(file)}, ${JSON.stringify(bytes)})`],
      { timeout, killSignal: 'SIGKILL' });
    return 'saved';
  } catch {
    return `still waiting after ${Date.now() - started} ms`;
  }
}

const hasPython = (() => {
  try {
    execFileSync('python3', ['-c', '0']);
    return true;
  } catch {
    return false;
  }
})();
const isRoot = process.getuid?.() === 0;

describe.skipIf(FALLBACK)('a writer never waits lease-break-time', () => {
  it.skipIf(!hasPython || !isRoot)("when a process of the server's user has filled the user's signal queue", async () => {
    // The lease thread hears of a break by a queued real-time signal (F_SETSIG). When the user's RLIMIT_SIGPENDING
    // is used up, the kernel sends a plain SIGIO (no fd) instead: the lease thread must find the broken lease itself.
    const root = freshDir('root');
    const file = path.join(root, 'page.txt');
    fs.writeFileSync(file, 'page');
    fs.chmodSync(file, 0o644);
    fs.chownSync(file, 65534, 65534); // the server's own: it can lease it
    const server = new ChildServer(root, 'handler', 65534);
    const filler = spawn('python3', [path.join(__dirname, 'fixtures', 'sigqueue-filler.py'), '65534'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await server.line();
      expect((await server.line('get /page.txt')).split(' ')[0]).toBe('200');
      await new Promise((resolve, reject) => {
        filler.stdout!.once('data', resolve);
        filler.once('exit', reject);
      });
      expect(saveElsewhere(file, 'new page', 5000)).toBe('saved');
      // and the server serves the new bytes, its own signal disposition untouched (it is still alive)
      expect((await server.line('get /page.txt')).split(' ').at(-1)).toBe(Buffer.from('new page').toString('hex'));
    } finally {
      filler.kill('SIGKILL');
      await server.end();
    }
  });

  it('when the server (zerocopy serve) was stopped by Ctrl-Z (SIGTSTP), and it serves again after SIGCONT', async () => {
    // `zerocopy serve` keeps files by default, each under a lease: stopped, its lease thread cannot give the lease
    // up, and the kernel would make every writer (an editor saving in place) wait lease-break-time.
    const root = freshDir('root');
    const file = path.join(root, 'index.html');
    fs.writeFileSync(file, '<h1>v1</h1>');
    const cli = spawn(process.execPath, [path.join(__dirname, '..', 'bin', 'zerocopy.js'), 'serve', root, '--port', '0'],
      { stdio: ['ignore', 'pipe', 'inherit'] });
    const fetchPage = () => new Promise<string>((resolve, reject) => {
      http.get(`http://127.0.0.1:${port}/index.html`, { agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve(Buffer.concat(chunks).toString()));
      }).on('error', reject);
    });
    let port = 0;
    try {
      const lines = createInterface({ input: cli.stdout! })[Symbol.asyncIterator]();
      while (!port) {
        const next = await lines.next();
        if (next.done) throw new Error('the CLI exited');
        port = Number(/Serving .* at http:\/\/127\.0\.0\.1:(\d+)\//.exec(next.value)?.[1] ?? 0);
      }
      expect(await fetchPage()).toBe('<h1>v1</h1>');
      process.kill(cli.pid!, 'SIGTSTP');
      const state = () => fs.readFileSync(`/proc/${cli.pid}/stat`, 'utf8').split(') ')[1][0];
      for (let i = 0; i < 100 && state() !== 'T'; i++) await new Promise((r) => setTimeout(r, 50));
      expect(state()).toBe('T'); // stopped
      expect(saveElsewhere(file, '<h1>v2</h1>', 5000)).toBe('saved');
      process.kill(cli.pid!, 'SIGCONT');
      expect(await fetchPage()).toBe('<h1>v2</h1>');
      expect(saveElsewhere(file, '<h1>v3</h1>', 5000)).toBe('saved'); // kept again, under a lease that works
      expect(await fetchPage()).toBe('<h1>v3</h1>');
    } finally {
      process.kill(cli.pid!, 'SIGCONT');
      cli.kill('SIGKILL');
    }
  });
});
