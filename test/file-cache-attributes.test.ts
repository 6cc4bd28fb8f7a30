// The open-file cache and attributes changed through a hard link in a directory it does not watch (issue 17's
// breaks): its directory watches see nothing, the watch on the kept file's own inode does. These prove it, and
// what a hit costs.
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createStaticHandler } from '../src/index';
import { ChildServer, keepAliveClient, walkableDirs } from './cache-server';
import { listen, type Server } from './http-clients';
import { FALLBACK } from './helpers';

const freshDir = walkableDirs(); // the unprivileged servers below walk through it

const { agent, get } = keepAliveClient();

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

/** Another process's hand: one synchronous fs call, in a child process. */
function elsewhere(code: string, timeout = 20_000): void {
  execFileSync(process.execPath, ['-e', code], { timeout, killSignal: 'SIGKILL' });
}

describe.skipIf(FALLBACK)('open-file cache: attributes changed through another name', () => {
  it('a touch through a hard link in another directory is served next (new Last-Modified, as uncached)', async () => {
    // inotify reports a change of attributes to the directory of the name it was made through: a hard link in an
    // unwatched directory changes the kept inode's mtime with no event the cache sees, and no open to break the lease.
    const root = freshDir('root');
    const other = freshDir('other');
    const file = path.join(root, 'page.txt');
    fs.writeFileSync(file, 'the same bytes');
    fs.linkSync(file, path.join(other, 'link.txt'));
    const s = await listen(http.createServer(createStaticHandler(root)));
    servers.push(s);
    const first = await get(s, '/page.txt');
    expect(first.status).toBe(200);
    elsewhere(`require('fs').utimesSync(${JSON.stringify(path.join(other, 'link.txt'))}, 1e9, 1e9)`);
    const expected = new Date(1e12).toUTCString();
    expect(fs.statSync(file).mtime.toUTCString()).toBe(expected);
    const next = await get(s, '/page.txt');
    expect(next.headers['last-modified']).toBe(expected);
    expect(next.headers.etag).not.toBe(first.headers.etag);
  });

  it('chmod 000 through a hard link in another directory is served next to a server that is not root (403)', async () => {
    // The server runs as 'nobody' and owns the file (so it can lease it). The file's mode, changed through another
    // name, makes an open fail with EACCES: the cache must not go on serving what the server may no longer read.
    const root = freshDir('root');
    const other = freshDir('other');
    const file = path.join(root, 'secret.txt');
    fs.writeFileSync(file, 'secret');
    fs.chmodSync(file, 0o644);
    fs.chownSync(file, 65534, 65534);
    fs.linkSync(file, path.join(other, 'link.txt'));
    const server = new ChildServer(root, 'handler', 65534);
    try {
      await server.line(); // the port
      expect(await server.line('get /secret.txt')).toMatch(new RegExp(`^200 .* ${Buffer.from('secret').toString('hex')}$`));
      fs.chmodSync(path.join(other, 'link.txt'), 0o000);
      expect((await server.line('get /secret.txt')).split(' ')[0]).toBe('403');
    } finally {
      await server.end();
    }
  });

  const hasStrace = (() => {
    try {
      execFileSync('strace', ['-V']);
      return true;
    } catch {
      return false;
    }
  })();
  it.skipIf(!hasStrace)('a hit costs no open, close or fstat (strace of the server over 50 hits)', async () => {
    // At most the transfer's own fstat after a response (to tell a truncation; skipped while the cache's lease is
    // held), which is not the cache's to save: fewer than one per hit.
    const root = freshDir('root');
    fs.writeFileSync(path.join(root, 'page.txt'), 'x'.repeat(4096));
    const server = new ChildServer(root, 'handler');
    const log = path.join(freshDir('log'), 'strace.log'); // outside the root: its creation would drop the entry
    let strace: ReturnType<typeof spawn> | undefined;
    try {
      const port = await server.port;
      const hit = () => new Promise<number>((resolve, reject) => {
        http.get(`http://127.0.0.1:${port}/page.txt`, { agent }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode!));
        }).on('error', reject);
      });
      expect(await hit()).toBe(200); // kept
      const pid = Number(fs.readdirSync('/proc').find((p) => {
        try {
          return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('cache-server.mjs') &&
            fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(root);
        } catch {
          return false;
        }
      }));
      strace = spawn('strace', ['-f', '-qq', '-e', 'trace=openat,openat2,close,fstat,newfstatat,statx', '-o', log, '-p', String(pid)],
        { stdio: 'ignore' });
      await new Promise((r) => setTimeout(r, 1000)); // attached
      for (let i = 0; i < 50; i++) expect(await hit()).toBe(200);
      strace.kill('SIGINT');
      await new Promise((r) => strace!.once('exit', r));
      const calls = fs.readFileSync(log, 'utf8').split('\n').filter((l) => /\b(openat2?|close|fstat|newfstatat|statx)\(/.test(l));
      const byName = (name: string) => calls.filter((l) => new RegExp(`\\b${name}\\(`).test(l)).length;
      expect({ open: byName('openat') + byName('openat2'), fstat: byName('fstat') + byName('newfstatat') + byName('statx'),
        close: byName('close') }).toEqual({ open: 0, fstat: expect.any(Number), close: 0 });
      expect(byName('fstat') + byName('newfstatat') + byName('statx')).toBeLessThan(50);
    } finally {
      strace?.kill('SIGKILL');
      await server.end();
    }
  });
});
