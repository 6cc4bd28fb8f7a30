// The open-file cache's fds and their lifetimes (issue 17's breaks): every cache of a process shares one inotify
// instance, one mount-table fd and one budget under RLIMIT_NOFILE; what a cache keeps is closed when its server
// closes, its Fastify app closes, its Worker ends, or a response fails before its headers.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import zerocopyStatic from '../src/http/fastify';
import { createStaticHandler } from '../src/index';
import { ChildServer, keepAliveClient, walkableDirs } from './cache-server';
import { listen, type Server } from './http-clients';
import { FALLBACK } from './helpers';

const freshDir = walkableDirs(); // the unprivileged servers below walk through it

/** The fds this process holds on paths under `dir`. */
function fdsUnder(dir: string): number {
  return fs.readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith(dir);
    } catch {
      return false; // closed meanwhile (the readdir's own fd)
    }
  }).length;
}

const { agent, get } = keepAliveClient();

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

describe.skipIf(FALLBACK)('open-file cache: fds', () => {
  it('a handler created per request leaves no fds, inotify instances or close listeners behind it', async () => {
    // Run as 'nobody': the inotify instances it uses up are that user's, not the machine's root's.
    const root = freshDir('root');
    fs.writeFileSync(path.join(root, 'page.txt'), 'page');
    fs.chmodSync(path.join(root, 'page.txt'), 0o644);
    const server = new ChildServer(root, 'per-request', 65534);
    try {
      await server.line();
      const before = JSON.parse(await server.line('probe')) as { fds: number; closeListeners: number; watch: string };
      expect(await server.line('many /page.txt 200')).toBe('200');
      const after = JSON.parse(await server.line('probe watch')) as { fds: number; closeListeners: number; watch: string };
      // Each dead handler's cache is still held by a 'close' listener on the server, with its inotify instance,
      // its mount-table fd and its kept file: fs.watch in the same process (and in any process of that user) fails.
      expect(after.watch).toBe('ok');
      expect(after.fds - before.fds).toBeLessThan(50);
      expect(after.closeListeners - before.closeListeners).toBeLessThan(50);
    } finally {
      await server.end();
    }
  });

  it('a Worker that served files and is terminated leaves no fds behind (kept files, inotify, mount table)', async () => {
    const root = freshDir('root');
    for (let i = 0; i < 8; i++) fs.writeFileSync(path.join(root, `f${i}.txt`), `file ${i}`);
    const fds = () => fs.readdirSync('/proc/self/fd').length;
    const onRoot = () => fdsUnder(root);
    const before = fds();
    for (let round = 0; round < 3; round++) {
      const worker = new Worker(`
        const http = require('node:http');
        const { parentPort } = require('node:worker_threads');
        const zerocopy = require(${JSON.stringify(path.join(__dirname, '..', 'lib', 'index.js'))});
        const server = http.createServer(zerocopy.createStaticHandler(${JSON.stringify(root)}));
        server.listen(0, '127.0.0.1', async () => {
          for (let i = 0; i < 8; i++) {
            await new Promise((resolve) => http.get('http://127.0.0.1:' + server.address().port + '/f' + i + '.txt',
              { agent: false }, (res) => { res.resume(); res.on('end', resolve); }));
          }
          parentPort.postMessage('served');
        });`, { eval: true, stderr: true });
      await new Promise((resolve) => worker.once('message', resolve));
      await worker.terminate();
    }
    await new Promise((r) => setTimeout(r, 200));
    expect(onRoot()).toBe(0);
    expect(fds() - before).toBeLessThan(6);
  });

  it('a bound the process cannot hold is refused, or kept under RLIMIT_NOFILE: the cache never takes the fds new connections need', async () => {
    // fileCache accepts up to 65,536 files (131,074 fds); Node's RLIMIT_NOFILE here is far lower. Under many
    // distinct files the cache fills every fd the process has, and then accept() fails: connections are reset.
    const root = freshDir('root');
    for (let i = 0; i < 300; i++) fs.writeFileSync(path.join(root, `f${i}.txt`), `file ${i}`);
    const server = new ChildServer(root, 'handler', undefined, { nofile: 256, options: { fileCache: 1000 } });
    try {
      const port = await server.port;
      const clients = new http.Agent({ keepAlive: true, maxSockets: 10 });
      const one = (i: number, keepAlive: boolean) => new Promise<number | string>((resolve) => {
        const req = http.get(`http://127.0.0.1:${port}/f${i}.txt`, { agent: keepAlive ? clients : agent, timeout: 5000 }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode!));
          res.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
        });
        req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
        req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
      });
      for (let i = 0; i < 300; i++) expect(await one(i, false)).toBe(200);
      // Ten clients at once, each on a keep-alive connection of its own (the server holds an fd for each).
      const statuses = await Promise.all(Array.from({ length: 10 }, (_, i) => one(i, true)));
      clients.destroy();
      expect(statuses).toEqual(Array(10).fill(200));
    } finally {
      await server.end();
    }
  });

  it("the fds kept stay within a quarter of RLIMIT_NOFILE across Workers, each with caches of its own", () => {
    // Each Worker has its own caches; the budget is the process's: two Workers asking for 50 files each under a
    // 256 limit keep at most 64 fds of files between them (each Worker alone would fit 29 files, 58 fds).
    const root = freshDir('root');
    for (let i = 0; i < 50; i++) fs.writeFileSync(path.join(root, `f${i}.txt`), `file ${i}`);
    const out = execFileSync('bash', ['-c', 'ulimit -n 256 && exec "$0" "$@"', process.execPath, '--no-warnings',
      path.join(__dirname, 'fixtures', 'cache-workers.mjs'), root, '2', '50'], { timeout: 60_000, killSignal: 'SIGKILL' });
    const kept = Number(out.toString().trim());
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThanOrEqual(64);
  });

  it('a response that fails before its headers (sent early by the caller) gives its kept file back', async () => {
    // respond() looks up a precompressed variant (res.setHeader('Vary')) outside the try whose finally gives the
    // target back: the entry stays in use forever, holds a slot of the bound, and survives the server's close.
    const root = freshDir('root');
    fs.writeFileSync(path.join(root, 'app.js'), 'app');
    fs.writeFileSync(path.join(root, 'other.js'), 'other');
    const handler = createStaticHandler(root, { precompressed: ['br'], fileCache: 1 });
    const s = await listen(http.createServer((req, res) => {
      if (req.url === '/app.js') res.flushHeaders(); // a middleware before it that sent the headers already
      handler(req, res);
    }));
    await new Promise<void>((resolve) => {
      http.get(`${s.url}/app.js`, { agent: false }, (res) => {
        res.resume();
        res.on('error', () => resolve());
        res.on('close', () => resolve());
      }).on('error', () => resolve());
    });
    const on = (name: string) => fs.readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return fs.readlinkSync(`/proc/self/fd/${fd}`) === path.join(root, name);
      } catch {
        return false;
      }
    }).length;
    expect((await get(s, '/other.js')).body.toString()).toBe('other');
    expect(on('other.js')).toBe(2); // kept: the bound (1) is not held by app.js any more
    await s.close();
    await new Promise((r) => setTimeout(r, 200));
    expect(on('app.js')).toBe(0);
    expect(on('other.js')).toBe(0);
  });

  it('a response that fails before its headers closes its own fd where nothing is kept (fileCache: false)', async () => {
    const root = freshDir('root');
    fs.writeFileSync(path.join(root, 'app.js'), 'app');
    const handler = createStaticHandler(root, { precompressed: ['br'], fileCache: false });
    const s = await listen(http.createServer((req, res) => {
      res.flushHeaders(); // a middleware before it that sent the headers already
      handler(req, res);
    }));
    servers.push(s);
    await new Promise<void>((resolve) => {
      http.get(`${s.url}/app.js`, { agent: false }, (res) => {
        res.resume();
        res.on('error', () => resolve());
        res.on('close', () => resolve());
      }).on('error', () => resolve());
    });
    const open = fs.readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return fs.readlinkSync(`/proc/self/fd/${fd}`) === path.join(root, 'app.js');
      } catch {
        return false;
      }
    });
    expect(open).toEqual([]);
  });

  it("the Fastify plugin's cache is closed by fastify.close(), also where requests came through fastify.inject", async () => {
    // The plugin's handler ties its cache to the http.Server of a request's socket: inject's requests have none, so
    // an app built and closed per test keeps every file it served open, and an inotify instance, until exit.
    const root = freshDir('root');
    for (let i = 0; i < 4; i++) fs.writeFileSync(path.join(root, `f${i}.txt`), `file ${i}`);
    const onRoot = () => fdsUnder(root);
    for (let app = 0; app < 3; app++) {
      const fastify = Fastify();
      await fastify.register(zerocopyStatic, { root });
      for (let i = 0; i < 4; i++) {
        const reply = await fastify.inject({ url: `/f${i}.txt` });
        expect(reply.body).toBe(`file ${i}`);
      }
      await fastify.close();
    }
    expect(onRoot()).toBe(0);
  });
});
