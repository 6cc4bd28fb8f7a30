// The open-file cache of serveFile and createStaticHandler against another process changing the files: every
// change is served (new bytes, or 404) on the very next request over the same keep-alive connection, checked by
// sha256. That a file is kept is seen from the kernel's side: its fds in /proc/self/fd and its lease in /proc/locks.
import { type ChildProcessWithoutNullStreams, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createStaticHandler, serveFile, type ServeResult } from '../src/index';
import { listen, parseMultipart, rawExchange, type Server } from './http-clients';
import { FALLBACK, randomFile, settleFds, sha256, stableFdCount, tempDir } from './helpers';

const work = tempDir();
const fixture = (name: string) => path.join(__dirname, 'fixtures', name);
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

let dirs = 0;
/** A fresh root (under its own directory, so that one test's changes never drop another's entries). */
function freshRoot(): string {
  const root = path.join(work, `root-${dirs++}`);
  fs.mkdirSync(root);
  return root;
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
afterAll(() => agent.destroy());

function get(server: Server, url: string, headers: http.OutgoingHttpHeaders = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    http.get(`${server.url}${url}`, { agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

/** The fds this process holds on `file` (the cache keeps two per file: its own and the lease's duplicate). */
function fdsOn(file: string): number {
  let n = 0;
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      if (fs.readlinkSync(`/proc/self/fd/${fd}`) === file) n++;
    } catch {
      // closed meanwhile (the readdir's own fd)
    }
  }
  return n;
}

/** Read leases this process holds on `file`'s inode, as /proc/locks lists them. */
function leasesOn(file: string): number {
  const { ino } = fs.statSync(file);
  return fs.readFileSync('/proc/locks', 'utf8').split('\n')
    .filter((l) => /\bLEASE\b.*\bREAD\b/.test(l) && l.includes(` ${process.pid} `) && l.includes(`:${ino} `)).length;
}

/** file-changer.mjs in a child process: another process's hands on the files. */
class Changer {
  #child: ChildProcessWithoutNullStreams;
  #lines: AsyncIterator<string>;

  constructor() {
    this.#child = spawn(process.execPath, [fixture('file-changer.mjs')]);
    this.#lines = createInterface({ input: this.#child.stdout })[Symbol.asyncIterator]();
  }

  async run(command: string): Promise<void> {
    this.#child.stdin.write(`${command}\n`);
    const line = await Promise.race([this.#lines.next(), new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`file-changer did not answer "${command}"`)), 20_000))]);
    if (line.value !== 'done') throw new Error(`file-changer: ${String(line.value)}`);
  }

  end(): Promise<void> {
    this.#child.stdin.end();
    return new Promise((resolve) => this.#child.once('exit', () => resolve()));
  }
}

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

async function staticServer(root: string, options: object = {}): Promise<Server> {
  const s = await listen(http.createServer(createStaticHandler(root, options)));
  servers.push(s);
  return s;
}

describe.skipIf(FALLBACK)('the open-file cache', () => {
  it('keeps a served file open under a read lease; fileCache: false keeps nothing', async () => {
    const root = freshRoot();
    const { file, data } = randomFile(root, 4096, 'page.bin');
    const cached = await staticServer(root);
    const r = await get(cached, '/page.bin');
    expect(sha256(r.body)).toBe(sha256(data));
    expect(fdsOn(file)).toBe(2);
    expect(leasesOn(file)).toBe(1);
    expect(sha256((await get(cached, '/page.bin')).body)).toBe(sha256(data));
    expect(fdsOn(file)).toBe(2); // a hit opened nothing more
    await cached.close();
    servers.length = 0;
    expect(await settleFds(0)).toBeGreaterThan(0);
    expect(fdsOn(file)).toBe(0); // the server closed: so did the cache
    const uncached = await staticServer(root, { fileCache: false });
    expect(sha256((await get(uncached, '/page.bin')).body)).toBe(sha256(data));
    expect(fdsOn(file)).toBe(0);
  });

  const changes: [string, (file: string) => string, (file: string) => Buffer | undefined][] = [
    ['an in-place write (longer)', (f) => `write ${f} ${'n'.repeat(6000)}`, () => Buffer.from('n'.repeat(6000))],
    ['an in-place write (shorter)', (f) => `write ${f} short`, () => Buffer.from('short')],
    ['a truncation by path', (f) => `truncate ${f} 100`, () => undefined],
    ['an atomic rename over the path', (f) => `replace ${f} renamed over`, () => Buffer.from('renamed over')],
    ['an unlink', (f) => `unlink ${f}`, () => undefined],
    ['a touch (new validators, the same bytes)', (f) => `touch ${f}`, () => undefined],
  ];
  it.each(changes)('serves %s on the very next request', async (_name, command, expected) => {
    const root = freshRoot();
    const { file, data } = randomFile(root, 4096, 'page.bin');
    const s = await staticServer(root);
    const first = await get(s, '/page.bin');
    expect(sha256(first.body)).toBe(sha256(data));
    expect(fdsOn(file)).toBe(2);
    const changer = new Changer();
    try {
      await changer.run(command(file));
      const next = await get(s, '/page.bin');
      const now = fs.existsSync(file) ? (expected(file) ?? fs.readFileSync(file)) : undefined;
      if (now === undefined) {
        expect(next.status).toBe(404);
      } else {
        expect(next.status).toBe(200);
        expect(sha256(next.body)).toBe(sha256(now));
        expect(Number(next.headers['content-length'])).toBe(now.length);
        expect(next.headers.etag).not.toBe(first.headers.etag);
      }
    } finally {
      await changer.end();
    }
  });

  it('a rename this process makes is seen by the next request, pipelined on the same connection', async () => {
    // No event-loop turn between the two requests: a watch delivered as a callback (fs.watch) comes too late here.
    const root = freshRoot();
    const file = path.join(root, 'page.txt');
    fs.writeFileSync(file, 'version 0');
    const handler = createStaticHandler(root);
    let version = 0;
    const s = await listen(http.createServer((req, res) => {
      if (req.url !== '/publish') return handler(req, res);
      fs.writeFileSync(`${file}.tmp`, `version ${++version}`);
      fs.renameSync(`${file}.tmp`, file);
      res.end('published');
    }));
    servers.push(s);
    for (let round = 1; round <= 3; round++) {
      const got = await rawExchange(s.port, 'GET /page.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /publish HTTP/1.1\r\nHost: x\r\n\r\n' +
        'GET /page.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', () => false);
      const bodies = got.toString().split('\r\n\r\n').slice(1).map((b) => b.split('HTTP/1.1')[0]);
      expect(bodies).toEqual([`version ${round - 1}`, 'published', `version ${round}`]);
    }
  });

  it('a file open for writing elsewhere is never kept, and each write through that fd is served next', async () => {
    const root = freshRoot();
    const { file } = randomFile(root, 4096, 'page.bin');
    const s = await staticServer(root);
    const changer = new Changer();
    try {
      await changer.run(`hold ${file}`); // opened before any entry could be made
      for (const text of ['first version', 'second, longer version', '3']) {
        await changer.run(`held ${text}`);
        const r = await get(s, '/page.bin');
        expect(r.body.toString()).toBe(text);
        expect(fdsOn(file)).toBe(0); // no lease to be had (EAGAIN): served, not kept
      }
    } finally {
      await changer.end();
    }
    // The writer gone, the file is kept again.
    expect((await get(s, '/page.bin')).body.toString()).toBe('3');
    expect(fdsOn(file)).toBe(2);
  });

  it('a file mapped writable and shared elsewhere is never kept: writes through the mapping are served next', async () => {
    const root = freshRoot();
    const file = path.join(root, 'mapped.txt');
    fs.writeFileSync(file, 'aaaaaaaa');
    const s = await staticServer(root);
    const changer = new Changer();
    try {
      await changer.run(`map ${file}`); // the mapper's fd is closed: only the mapping holds the file writable
      for (const text of ['bbbbbbbb', 'cccccccc']) {
        await changer.run(`mapped ${text}`);
        expect((await get(s, '/mapped.txt')).body.toString()).toBe(text);
        expect(fdsOn(file)).toBe(0);
      }
    } finally {
      await changer.end();
    }
  });

  it('a directory swapped for a symlink out of the root is refused on the next request, as the resolver does', async () => {
    const root = freshRoot();
    const outside = path.join(work, `outside-${dirs}`);
    fs.mkdirSync(path.join(root, 'sub'));
    const { data } = randomFile(path.join(root, 'sub'), 4096, 'page.bin');
    const s = await staticServer(root);
    expect(sha256((await get(s, '/sub/page.bin')).body)).toBe(sha256(data));
    expect(fdsOn(path.join(root, 'sub', 'page.bin'))).toBe(2);
    // The very file, still open in the cache, now reached through a symlink that leaves the root.
    fs.renameSync(path.join(root, 'sub'), outside);
    fs.symlinkSync(outside, path.join(root, 'sub'));
    expect((await get(s, '/sub/page.bin')).status).toBe(404);
  });

  it('a file reached through a symlink is not kept: a rename in its real directory is served next', async () => {
    const root = freshRoot();
    fs.mkdirSync(path.join(root, 'sub'));
    const real = path.join(root, 'sub', 'page.txt');
    fs.writeFileSync(real, 'version 1');
    fs.symlinkSync('sub/page.txt', path.join(root, 'alias.txt')); // inside the root: the resolver follows it
    const s = await staticServer(root);
    expect((await get(s, '/alias.txt')).body.toString()).toBe('version 1');
    fs.writeFileSync(`${real}.tmp`, 'version 2');
    fs.renameSync(`${real}.tmp`, real); // in sub/, which no watch on the path asked for (/, ..., root) covers
    expect((await get(s, '/alias.txt')).body.toString()).toBe('version 2');
    expect(fdsOn(real)).toBe(0);
  });

  it('a mount over a directory on the path (which inotify does not report) is served next', (ctx) => {
    const root = freshRoot();
    const other = path.join(work, `mounted-${dirs}`);
    fs.mkdirSync(path.join(root, 'sub'));
    fs.mkdirSync(other);
    fs.writeFileSync(path.join(root, 'sub', 'page.txt'), 'the directory');
    fs.writeFileSync(path.join(other, 'page.txt'), 'the mount');
    return (async () => {
      const s = await staticServer(root);
      expect((await get(s, '/sub/page.txt')).body.toString()).toBe('the directory');
      try {
        execFileSync('mount', ['--bind', other, path.join(root, 'sub')], { stdio: 'ignore' });
      } catch {
        ctx.skip('no bind mounts here (needs CAP_SYS_ADMIN)');
      }
      try {
        expect((await get(s, '/sub/page.txt')).body.toString()).toBe('the mount');
      } finally {
        execFileSync('umount', ['--lazy', path.join(root, 'sub')]); // the kept fd keeps it busy
      }
      expect((await get(s, '/sub/page.txt')).body.toString()).toBe('the directory');
    })();
  });

  it('a flood of events that overflows the watch queue drops every entry: a rename lost in it is still served', async () => {
    const root = freshRoot();
    fs.mkdirSync(path.join(root, 'sub'));
    const { file, data } = randomFile(path.join(root, 'sub'), 4096, 'page.bin');
    const s = await staticServer(root);
    expect(sha256((await get(s, '/sub/page.bin')).body)).toBe(sha256(data));
    const changer = new Changer();
    try {
      // Names in an ancestor that no entry depends on, queued all the same: /proc/sys/fs/inotify/max_queued_events.
      const queue = Number(fs.readFileSync('/proc/sys/fs/inotify/max_queued_events', 'utf8'));
      await changer.run(`flood ${root} ${Math.ceil(queue / 2) + 100}`);
      await changer.run(`replace ${file} after the flood`);
    } finally {
      await changer.end();
    }
    expect((await get(s, '/sub/page.bin')).body.toString()).toBe('after the flood');
  });

  it('a better candidate appearing (an extension, an index, a precompressed variant) is served next', async () => {
    const root = freshRoot();
    fs.writeFileSync(path.join(root, 'about.html'), 'about.html');
    fs.mkdirSync(path.join(root, 'docs'));
    fs.writeFileSync(path.join(root, 'docs', 'index.htm'), 'index.htm');
    fs.writeFileSync(path.join(root, 'app.js'), 'plain');
    const s = await staticServer(root, { extensions: ['html'], index: ['index.html', 'index.htm'], precompressed: true });
    const br = { 'accept-encoding': 'br' };
    expect((await get(s, '/about')).body.toString()).toBe('about.html');
    expect((await get(s, '/docs/')).body.toString()).toBe('index.htm');
    expect((await get(s, '/app.js', br)).body.toString()).toBe('plain');
    fs.writeFileSync(path.join(root, 'about'), 'about itself');
    fs.writeFileSync(path.join(root, 'docs', 'index.html'), 'index.html');
    fs.writeFileSync(path.join(root, 'app.js.br'), 'compressed');
    expect((await get(s, '/about')).body.toString()).toBe('about itself');
    expect((await get(s, '/docs/')).body.toString()).toBe('index.html');
    const variant = await get(s, '/app.js', br);
    expect(variant.headers['content-encoding']).toBe('br');
    expect(variant.body.toString()).toBe('compressed');
  });

  it('holds no more fds than its bound under many distinct files, and none once the server closes', async () => {
    const root = freshRoot();
    const files = Array.from({ length: 40 }, (_, i) => randomFile(root, 1000 + i, `f${i}.bin`));
    const before = await stableFdCount();
    const s = await staticServer(root, { fileCache: 4 });
    const open = () => files.reduce((n, { file }) => n + fdsOn(file), 0);
    for (let round = 0; round < 2; round++) {
      for (const { file, data } of files) {
        expect(sha256((await get(s, `/${path.basename(file)}`)).body)).toBe(sha256(data));
        expect(open()).toBeLessThanOrEqual(2 * 4);
      }
    }
    // Many at once: responses in flight keep their entries; the bound still holds.
    const all = await Promise.all(files.map(({ file }) => new Promise<Buffer>((resolve, reject) => {
      http.get(`${s.url}/${path.basename(file)}`, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve(Buffer.concat(chunks)));
      }).on('error', reject);
    })));
    expect(all.map(sha256)).toEqual(files.map(({ data }) => sha256(data)));
    expect(open()).toBeLessThanOrEqual(2 * 4);
    await s.close();
    servers.length = 0;
    agent.destroy();
    expect(await settleFds(before)).toBe(before);
  });

  it('an entry in use is not closed under its response: evicted or renamed over, it closes when the response ends', async () => {
    const root = freshRoot();
    const { file, data } = randomFile(root, 16 * 2 ** 20, 'big.bin');
    const small = Array.from({ length: 6 }, (_, i) => randomFile(root, 100 + i, `s${i}.bin`));
    const s = await staticServer(root, { fileCache: 2 });
    // A slow reader keeps big.bin's response (and its kept fd) in flight: two ranges, each part sent from the fd
    // after the one before has gone, so a closed (or reused) fd number would cut the second or fill it with another file.
    const half = 8 * 2 ** 20;
    const body = new Promise<{ type: string; body: Buffer }>((resolve, reject) => {
      http.get(`${s.url}/big.bin`, { headers: { range: `bytes=0-${half - 1},${half}-${2 * half - 1}` } }, (res) => {
        const chunks: Buffer[] = [];
        res.pause();
        setTimeout(() => res.resume(), 500);
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ type: res.headers['content-type']!, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      }).on('error', reject);
    });
    await new Promise((r) => setTimeout(r, 100));
    expect(fdsOn(file)).toBeGreaterThanOrEqual(2); // kept (and maybe the engine's duplicate for the transfer)
    fs.writeFileSync(`${file}.tmp`, 'the new big.bin');
    fs.renameSync(`${file}.tmp`, file); // drops the entry; the response goes on from the old file
    for (const { file: f, data: d } of small) expect(sha256((await get(s, `/${path.basename(f)}`)).body)).toBe(sha256(d));
    const multipart = await body;
    expect(parseMultipart(multipart.body, multipart.type).map((p) => sha256(p.body)))
      .toEqual([sha256(data.subarray(0, half)), sha256(data.subarray(half))]);
    expect((await get(s, '/big.bin')).body.toString()).toBe('the new big.bin');
    await settleFds(0);
    const open = [file, ...small.map((x) => x.file)].reduce((n, f) => n + fdsOn(f), 0);
    expect(open).toBeLessThanOrEqual(2 * 2);
  });

  it('serveFile shares one cache; lease: true gets its own open file and lease, and the writer waits for it', async () => {
    const root = freshRoot();
    const { file, data } = randomFile(root, 16 * 2 ** 20, 'big.bin');
    const s = await listen(http.createServer((req, res) => {
      void serveFile(req, res, req.url!, { root, lease: req.headers['x-lease'] === '1', leaseGraceMs: 20_000 });
    }));
    servers.push(s);
    expect(sha256((await get(s, '/big.bin')).body)).toBe(sha256(data));
    expect(fdsOn(file)).toBe(2); // kept, under the cache's lease
    // A leased response, read slowly: a writer that truncates meanwhile must wait until it is sent whole.
    const body = new Promise<Buffer>((resolve, reject) => {
      http.get(`${s.url}/big.bin`, { headers: { 'x-lease': '1' } }, (res) => {
        const chunks: Buffer[] = [];
        res.pause();
        setTimeout(() => res.resume(), 500);
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve(Buffer.concat(chunks)));
        res.on('error', reject);
      }).on('error', reject);
    });
    await new Promise((r) => setTimeout(r, 100));
    const changer = new Changer();
    try {
      const truncated = changer.run(`truncate ${file} 5`);
      expect(sha256(await body)).toBe(sha256(data));
      await truncated;
    } finally {
      await changer.end();
    }
    const after = await get(s, '/big.bin');
    expect(after.body.length).toBe(5);
    expect(sha256(after.body)).toBe(sha256(data.subarray(0, 5)));
  });

  it('a kept file truncated during its send: the response is cut short with ERR_FILE_TRUNCATED', async () => {
    // Its send skips the truncation check's fstat only while the cache's lease is still held: a writer breaks it.
    const root = freshRoot();
    const { file, data } = randomFile(root, 16 * 2 ** 20, 'big.bin');
    const results: ServeResult[] = [];
    const s = await staticServer(root, { onResponse: (_req: unknown, result: ServeResult) => results.push(result) });
    expect(sha256((await get(s, '/big.bin')).body)).toBe(sha256(data));
    expect(fdsOn(file)).toBe(2); // kept
    // The client reads nothing until the file is truncated: 16 MiB cannot all be in the socket buffers by then.
    let resume!: () => void;
    const cut = new Promise<{ got: number; aborted: boolean }>((resolve) => {
      http.get(`${s.url}/big.bin`, (res) => {
        let got = 0;
        res.pause();
        resume = () => res.resume();
        res.on('data', (c: Buffer) => (got += c.length));
        res.on('end', () => resolve({ got, aborted: false }));
        res.on('error', () => resolve({ got, aborted: true }));
        res.on('aborted', () => resolve({ got, aborted: true }));
      }).on('error', () => resolve({ got: 0, aborted: true }));
    });
    for (let i = 0; i < 500 && !resume; i++) await new Promise((r) => setTimeout(r, 10));
    const changer = new Changer();
    try {
      await changer.run(`truncate ${file} 5`);
      resume();
      const { got, aborted } = await cut;
      expect(aborted).toBe(true);
      expect(got).toBeLessThan(data.length);
    } finally {
      await changer.end();
    }
    for (let i = 0; i < 100 && results.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    expect(results[1]).toMatchObject({ status: 200, path: file });
    expect(results[1].error?.code).toBe('ERR_FILE_TRUNCATED');
  });

  it('refuses a bad size with a typed error', () => {
    expect(() => createStaticHandler(work, { fileCache: 0 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => createStaticHandler(work, { fileCache: 1.5 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => createStaticHandler(work, { fileCache: 65_537 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => createStaticHandler(work, { fileCache: '8' as never })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => createStaticHandler(work, { fileCache: true })).not.toThrow();
  });
});

describe.runIf(FALLBACK)('without the addon', () => {
  it('keeps nothing open (no lease to keep a file by) and serves every change', async () => {
    const root = freshRoot();
    const { file } = randomFile(root, 4096, 'page.bin');
    const s = await staticServer(root);
    for (const text of ['one', 'two']) {
      fs.writeFileSync(file, text);
      expect((await get(s, '/page.bin')).body.toString()).toBe(text);
      expect(fdsOn(file)).toBe(0);
    }
  });
});
