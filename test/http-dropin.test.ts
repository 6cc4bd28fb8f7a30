// serveFile and createStaticHandler against what users of send, serve-static (express.static) and @fastify/static
// rely on: mounted directories, caller statuses and headers, absolute-form targets, responses without a socket
// (fastify.inject), and the options their code passes. Real Express 5, Fastify 5 and Koa apps, real clients.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import express from 'express';
import Fastify from 'fastify';
import compression from 'compression';
import Koa from 'koa';
import { fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStaticHandler, sendFile, serveFile, type ServeOptions, type ServeResult } from '../src/index';
import { curl, listen, parseResponses, rawExchange, type Server } from './http-clients';
import { FALLBACK, randomFile, sha256, tempDir } from './helpers';

const work = tempDir();
const root = path.join(work, 'www');
const data = new Map<string, Buffer>();
const servers: Server[] = [];
const text = Buffer.from('zero-copy precompressed text\n'.repeat(4000));
const br = zlib.brotliCompressSync(text);
const gz = zlib.gzipSync(text);

beforeAll(() => {
  fs.mkdirSync(path.join(root, 'docs'), { recursive: true });
  fs.mkdirSync(path.join(root, '日本 dir'));
  for (const [name, size] of [['4k.bin', 4096], ['1m.bin', 2 ** 20]] as const) data.set(name, randomFile(root, size, name).data);
  fs.writeFileSync(path.join(root, 'index.html'), '<h1>home</h1>\n');
  fs.writeFileSync(path.join(root, 'docs', 'index.html'), '<h1>docs</h1>\n');
  fs.writeFileSync(path.join(root, 'about.html'), '<h1>about</h1>\n');
  fs.mkdirSync(path.join(work, '.hidden'));
  fs.writeFileSync(path.join(work, '.hidden', 'x.txt'), 'hidden\n');
  fs.writeFileSync(path.join(root, 'page.txt'), text);
  fs.writeFileSync(path.join(root, 'page.txt.br'), br);
  fs.writeFileSync(path.join(root, 'page.txt.gz'), gz);
  fs.writeFileSync(path.join(root, 'plain.txt'), text);
  fs.writeFileSync(path.join(work, 'secret.gz'), gz);
  fs.symlinkSync(path.join(work, 'secret.gz'), path.join(root, 'plain.txt.gz')); // leaves the root: never served
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  fs.rmSync(work, { recursive: true, force: true });
});

async function serve(handler: http.RequestListener): Promise<Server> {
  const server = await listen(http.createServer(handler));
  servers.push(server);
  return server;
}

/** One request with a target as written (absolute-form, unnormalized `..`), read until the server closes. */
async function raw(server: Server, target: string, headers = '') {
  const reply = await rawExchange(server.port, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers}Connection: close\r\n\r\n`,
    () => false);
  return parseResponses(reply, [false])[0];
}

/** A server answering every request with serveFile(req, res, req.url, options), results kept. */
async function serveFileServer(options: ServeOptions = { root }, before?: (req: http.IncomingMessage, res: http.ServerResponse) => void) {
  const results: ServeResult[] = [];
  const server = await serve((req, res) => {
    before?.(req, res);
    void serveFile(req, res, req.url!, options).then((r) => results.push(r));
  });
  return { server, results };
}

describe('bugs a migration from send / serve-static would hit', () => {
  it('redirects a mounted directory asked for without its slash (Express), with or without an index', async () => {
    const app = express();
    app.use('/static', createStaticHandler(root));
    app.use('/bare', createStaticHandler(root, { index: false }));
    app.use('/noredirect', createStaticHandler(root, { redirect: false }));
    app.use((_req, res) => res.status(404).send('express 404'));
    const server = servers[servers.push(await listen(http.createServer(app))) - 1];
    for (const [url, location] of [['/static', '/static/'], ['/static?x=1', '/static/?x=1'], ['/bare', '/bare/'],
      ['/static/docs', '/static/docs/']]) {
      const r = await fetch(`${server.url}${url}`, { redirect: 'manual' });
      expect([url, r.status, r.headers.get('location')]).toEqual([url, 301, location]);
    }
    const home = await fetch(`${server.url}/static/`);
    expect([home.status, await home.text()]).toEqual([200, '<h1>home</h1>\n']);
    // index: false: the directory itself is no file, so it falls through to Express (serve-static does the same).
    const bare = await fetch(`${server.url}/bare/`);
    expect([bare.status, await bare.text()]).toEqual([404, 'express 404']);
    const noRedirect = await fetch(`${server.url}/noredirect`, { redirect: 'manual' });
    expect([noRedirect.status, await noRedirect.text()]).toEqual([404, 'express 404']);
  });

  it('answers 404 for a regular file asked for with a trailing slash', async () => {
    const server = await serve(createStaticHandler(root));
    expect((await fetch(`${server.url}/4k.bin/`)).status).toBe(404);
    const { server: direct } = await serveFileServer();
    expect((await fetch(`${direct.url}/4k.bin/`)).status).toBe(404);
    expect((await fetch(`${direct.url}/4k.bin`)).status).toBe(200);
  });

  it('streams through the copy path without a real socket (fastify.inject), the reason in the result', async () => {
    const results: ServeResult[] = [];
    const app = Fastify();
    app.get('/*', async (request, reply) => {
      reply.hijack();
      results.push(await serveFile(request.raw, reply.raw, request.url, { root }));
    });
    const whole = await app.inject({ method: 'GET', url: '/1m.bin' });
    expect(whole.statusCode).toBe(200);
    expect(sha256(whole.rawPayload)).toBe(sha256(data.get('1m.bin')!));
    const part = await app.inject({ method: 'GET', url: '/1m.bin', headers: { range: 'bytes=10-19,100-109' } });
    expect(part.statusCode).toBe(206);
    expect(part.headers['content-type']).toMatch(/^multipart\/byteranges; boundary=/);
    expect(part.rawPayload.length).toBe(Number(part.headers['content-length']));
    expect(results.map((r) => [r.status, r.fallbackReason, r.zeroCopy, r.error])).toEqual([
      [200, 'no-socket', false, undefined], [206, 'no-socket', false, undefined]]);
    expect(results[0].bytes).toBe(2 ** 20);
    await app.close();
  });

  it('percent-encodes a redirect Location from a rewritten url (space, non-ASCII)', async () => {
    const handler = createStaticHandler(root);
    const server = await serve((req, res) => {
      req.url = '/日本 dir?q=ü';
      handler(req, res);
    });
    const r = await fetch(`${server.url}/anything`, { redirect: 'manual' });
    expect(r.status).toBe(301);
    expect(r.headers.get('location')).toBe('/%E6%97%A5%E6%9C%AC%20dir/?q=%C3%BC');
  });

  it('keeps a non-2xx status the caller set, whole and without evaluating preconditions', async () => {
    const { server, results } = await serveFileServer({ root }, (_req, res) => {
      res.statusCode = 404;
    });
    const first = await fetch(`${server.url}/index.html`);
    expect([first.status, await first.text()]).toEqual([404, '<h1>home</h1>\n']);
    const etag = first.headers.get('etag')!;
    const again = await fetch(`${server.url}/index.html`, { headers: { 'If-None-Match': etag, Range: 'bytes=0-1' } });
    expect([again.status, await again.text()]).toEqual([404, '<h1>home</h1>\n']);
    expect(results.map((r) => r.status)).toEqual([404, 404]);
  });

  it('never sends a body after a caller-set 304 or 204 (the next pipelined response stays its own); 204 kept', async () => {
    for (const status of [304, 204]) {
      const { server, results } = await serveFileServer({ root }, (req, res) => {
        if (req.url === '/4k.bin') res.statusCode = status;
      });
      const reply = await rawExchange(server.port, 'GET /4k.bin HTTP/1.1\r\nHost: x\r\n\r\n' +
        'GET /about.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', () => false);
      const [first, second] = parseResponses(reply, [true, false]);
      expect([first.status, first.headers['content-length'], second.status, second.body.toString()])
        .toEqual([status, undefined, 200, '<h1>about</h1>\n']);
      expect(results.map((r) => [r.status, r.bytes])).toEqual([[status, 0], [200, 15]]);
    }
  });

  it('never redirects to a Location starting with // (an empty path, ?x, #x name the root)', async () => {
    for (const [file, location] of [['', '/'], ['?x=1', '/?x=1'], ['#top', '/#top']]) {
      const server = await serve((req, res) => void serveFile(req, res, file, { root }));
      const r = await fetch(server.url, { redirect: 'manual' });
      expect([file, r.status, r.headers.get('location')]).toEqual([file, 301, location]);
    }
  });

  it('serves an absolute-form request target (RFC 9112 §3.2.2)', async () => {
    const server = await serve(createStaticHandler(root));
    const r = await raw(server, `http://127.0.0.1:${server.port}/4k.bin?x=1`);
    expect(r.status).toBe(200);
    expect(sha256(r.body)).toBe(sha256(data.get('4k.bin')!));
    const dir = await raw(server, `http://127.0.0.1:${server.port}/docs`);
    expect([dir.status, dir.headers.location]).toEqual([301, '/docs/']);
    const { server: direct } = await serveFileServer();
    expect((await raw(direct, `http://127.0.0.1:${direct.port}/index.html`)).status).toBe(200);
  });

  it('sendFile takes a ServerResponse (headers flushed first) and refuses a socket whose headers are unsent', async () => {
    const file = path.join(root, '1m.bin');
    const refusals: unknown[] = [];
    const server = await serve(async (req, res) => {
      res.writeHead(200, { 'Content-Length': 2 ** 20 });
      if (req.url === '/socket') {
        await sendFile(res.socket!, file).catch((err) => refusals.push(err));
        res.flushHeaders();
        await sendFile(res.socket!, file);
      } else {
        await sendFile(res, file);
      }
      res.end();
    });
    for (const url of ['/response', '/socket']) {
      const r = await fetch(`${server.url}${url}`, { signal: AbortSignal.timeout(10_000) }); // the old code hung
      expect(r.status).toBe(200);
      expect(sha256(Buffer.from(await r.arrayBuffer()))).toBe(sha256(data.get('1m.bin')!));
    }
    expect(refusals).toEqual([expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE',
      message: expect.stringContaining('res.flushHeaders()') })]);
  });

  it('sendFile refuses a response with no Content-Length (its body would be chunked)', async () => {
    const errors: unknown[] = [];
    const server = await serve(async (_req, res) => {
      await sendFile(res, path.join(root, '4k.bin')).catch((err) => errors.push(err));
      res.end('fine\n');
    });
    expect(await (await fetch(server.url)).text()).toBe('fine\n');
    expect(errors).toEqual([expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' })]);
  });

  it('sendFile(res): nothing for HEAD or a 304; a Content-Length other than the bytes to send is refused', async () => {
    const outcomes: unknown[] = [];
    const server = await serve(async (req, res) => {
      const [, status, declared, length] = /^\/(\d+)\/(\d+)(?:\/(\d+))?$/.exec(req.url!) ?? [];
      if (!status) return res.end('second\n');
      res.statusCode = Number(status);
      res.setHeader('Content-Length', declared);
      await sendFile(res, path.join(root, '4k.bin'), length ? { length: Number(length) } : undefined)
        .then((r) => outcomes.push([req.method, r.bytes]), (err) => {
          outcomes.push([req.method, err.code]);
          res.statusCode = 500;
          res.setHeader('Content-Length', 0);
        });
      res.end();
    });
    const pipeline = (method: string, url: string) => rawExchange(server.port, `${method} ${url} HTTP/1.1\r\nHost: x\r\n\r\n` +
      'GET /next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', () => false);
    const cases = [['HEAD', '/200/4096', true, 200], ['GET', '/304/4096', true, 304], ['GET', '/200/3', false, 500],
      ['GET', '/200/100000', false, 500], ['GET', '/200/3/3', false, 200]] as const;
    for (const [method, url, head, status] of cases) {
      const [first, second] = parseResponses(await pipeline(method, url), [head, false]);
      expect([url, first.status, second.body.toString()]).toEqual([url, status, 'second\n']);
    }
    expect(outcomes).toEqual([['HEAD', 0], ['GET', 0], ['GET', 'ERR_INVALID_ARG_VALUE'], ['GET', 'ERR_INVALID_ARG_VALUE'],
      ['GET', 3]]);
  });

  it('sendFile(res) refuses a response that compression() reframes', async () => {
    const errors: unknown[] = [];
    const app = express();
    app.use(compression({ threshold: 0 }));
    app.use(async (_req: http.IncomingMessage, res: http.ServerResponse) => {
      res.setHeader('Content-Type', 'text/plain');
      res.setHeader('Content-Length', text.length);
      await sendFile(res, path.join(root, 'plain.txt')).catch((err) => errors.push(err));
      res.end();
    });
    const server = servers[servers.push(await listen(http.createServer(app))) - 1];
    const r = await curl(work, server.url, '--compressed');
    expect([r.exitCode, r.body.length]).toEqual([0, 0]);
    expect(errors).toEqual([expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringContaining('reframed') })]);
  });

  it('refuses `..` without a root and applies dotfiles to the given path', async () => {
    const { server } = await serveFileServer({});
    const r = await raw(server, '/../../etc/hostname');
    expect(r.status).toBe(403);
    const hidden = path.join(work, '.hidden', 'x.txt');
    expect((await raw(server, hidden)).status).toBe(404);
    const { server: allowed } = await serveFileServer({ dotfiles: 'allow' });
    const served = await raw(allowed, hidden);
    expect([served.status, served.body.toString()]).toEqual([200, 'hidden\n']);
    const { server: denied } = await serveFileServer({ dotfiles: 'deny' });
    expect((await raw(denied, hidden)).status).toBe(403);
  });

  it('resolves with result.error for a signal aborted already', async () => {
    const settled: unknown[] = [];
    const server = await serve((req, res) => {
      serveFile(req, res, req.url!, { root, signal: AbortSignal.abort() }).then(
        (r) => settled.push(r), (err) => settled.push({ rejected: err }));
    });
    // Bounded: the old code never answered (serveFile rejected and the request was left open).
    await fetch(`${server.url}/1m.bin`, { signal: AbortSignal.timeout(5000) }).then((r) => r.arrayBuffer())
      .catch(() => undefined);
    await expect.poll(() => settled.length).toBe(1);
    expect(settled[0]).toMatchObject({ error: { code: 'ABORT_ERR' } });
  });

  it('drops headers set before an error; redirects and errors carry CSP and nosniff', async () => {
    const { server } = await serveFileServer({ root }, (_req, res) => {
      res.setHeader('Cache-Control', 'public, max-age=31536000');
      res.setHeader('X-Custom', 'kept for files only');
    });
    const missing = await fetch(`${server.url}/nothing-here`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('cache-control')).toBeNull();
    expect(missing.headers.get('x-custom')).toBeNull();
    const found = await fetch(`${server.url}/4k.bin`);
    expect(found.headers.get('x-custom')).toBe('kept for files only');
    const redirect = await fetch(`${server.url}/docs`, { redirect: 'manual' });
    for (const r of [missing, redirect]) {
      expect(r.headers.get('content-security-policy')).toBe("default-src 'none'");
      expect(r.headers.get('x-content-type-options')).toBe('nosniff');
    }
    expect(redirect.status).toBe(301);
  });
});

describe('validators set by the caller', () => {
  it('preconditions are evaluated against the ETag and Last-Modified setHeaders set, as send does', async () => {
    const lastModified = 'Mon, 01 Jan 2001 00:00:00 GMT';
    const { server } = await serveFileServer({ root, setHeaders: (res) => {
      res.setHeader('ETag', '"sha-abc"');
      res.setHeader('Last-Modified', lastModified);
    } });
    const ours = (await fetch(`${server.url}/4k.bin`, { headers: { 'if-none-match': '"x"' } })).status;
    const cases: [Record<string, string>, number][] = [[{ 'if-none-match': '"sha-abc"' }, 304], [{ 'if-match': '"sha-abc"' }, 200],
      [{ 'if-match': '"other"' }, 412], [{ 'if-range': '"sha-abc"', range: 'bytes=0-1' }, 206],
      [{ 'if-modified-since': lastModified }, 304], [{ 'if-unmodified-since': 'Sun, 31 Dec 2000 00:00:00 GMT' }, 412]];
    const statuses = [];
    for (const [headers] of cases) statuses.push((await fetch(`${server.url}/4k.bin`, { headers })).status);
    expect([ours, ...statuses]).toEqual([200, ...cases.map(([, status]) => status)]);
  });
});

describe('options users pass today', () => {
  it('refuses unknown options with ERR_INVALID_ARG_VALUE naming the known ones', async () => {
    const req = { headers: {}, method: 'GET' } as http.IncomingMessage;
    const res = new http.ServerResponse(req);
    await expect(serveFile(req, res, '/x', { root, fallthrough: false } as never)).rejects.toMatchObject({
      code: 'ERR_INVALID_ARG_VALUE', message: expect.stringMatching(/'options\.fallthrough' is not an option.*maxAge.*strategy/) });
    expect(() => createStaticHandler(root, { maxage: 10 } as never)).toThrow(expect.objectContaining({
      code: 'ERR_INVALID_ARG_VALUE', message: expect.stringMatching(/'options\.maxage'.*fallthrough/) }));
    expect(() => createStaticHandler(root, { signal: AbortSignal.abort() } as never)).toThrow(expect.objectContaining({
      code: 'ERR_INVALID_ARG_VALUE' }));
    expect(res.headersSent).toBe(false);
  });

  it('maxAge: seconds or a duration string, capped at one year; immutable; cacheControl false', async () => {
    const cases: [ServeOptions, string | null][] = [
      [{ maxAge: 600 }, 'public, max-age=600'],
      [{ maxAge: '1d' }, 'public, max-age=86400'],
      [{ maxAge: '2 hours', immutable: true }, 'public, max-age=7200, immutable'],
      [{ maxAge: 86_400_000 }, 'public, max-age=31536000'], // a serve-static user's milliseconds for a day
      [{ maxAge: '10y' }, 'public, max-age=31536000'],
      [{ maxAge: 600, cacheControl: false }, null],
    ];
    for (const [options, expected] of cases) {
      const { server } = await serveFileServer({ root, ...options });
      expect([options, (await fetch(`${server.url}/4k.bin`)).headers.get('cache-control')]).toEqual([options, expected]);
    }
    const req = { headers: {}, method: 'GET' } as http.IncomingMessage;
    const res = new http.ServerResponse(req);
    await expect(serveFile(req, res, '/x', { maxAge: 'soon' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
  });

  it('etag, lastModified and acceptRanges false: neither sent nor evaluated', async () => {
    const { server } = await serveFileServer({ root });
    const plain = await fetch(`${server.url}/4k.bin`);
    const etag = plain.headers.get('etag')!;
    const lastModified = plain.headers.get('last-modified')!;
    const { server: off } = await serveFileServer({ root, etag: false, lastModified: false, acceptRanges: false });
    const r = await fetch(`${off.url}/4k.bin`, { headers: { 'If-None-Match': etag, 'If-Modified-Since': lastModified,
      Range: 'bytes=0-9' } });
    expect(r.status).toBe(200);
    expect(sha256(Buffer.from(await r.arrayBuffer()))).toBe(sha256(data.get('4k.bin')!));
    for (const name of ['etag', 'last-modified', 'accept-ranges']) expect(r.headers.get(name)).toBeNull();
    const { server: noEtag } = await serveFileServer({ root, etag: false });
    const byDate = await fetch(`${noEtag.url}/4k.bin`, { headers: { 'If-Modified-Since': lastModified } });
    expect([byDate.status, byDate.headers.get('etag')]).toEqual([304, null]);
  });

  it('setHeaders runs with the path and stat before ours, and what it sets is kept', async () => {
    const seen: [string, number][] = [];
    const { server } = await serveFileServer({ root, maxAge: 60, setHeaders: (res, file, stat) => {
      seen.push([file, stat.size]);
      res.setHeader('Cache-Control', 'no-store');
      res.setHeader('X-File', path.basename(file));
    } });
    const r = await fetch(`${server.url}/4k.bin`);
    expect([r.headers.get('cache-control'), r.headers.get('x-file')]).toEqual(['no-store', '4k.bin']);
    expect(seen).toEqual([[path.join(root, '4k.bin'), 4096]]);
  });

  it('extensions: /about serves about.html; a real file wins; none for a trailing slash', async () => {
    const server = await serve(createStaticHandler(root, { extensions: ['htm', 'html'] }));
    const about = await fetch(`${server.url}/about`);
    expect([about.status, about.headers.get('content-type'), await about.text()])
      .toEqual([200, 'text/html; charset=utf-8', '<h1>about</h1>\n']);
    expect((await fetch(`${server.url}/about/`)).status).toBe(404);
    expect((await fetch(`${server.url}/4k`)).status).toBe(404);
    expect(() => createStaticHandler(root, { extensions: ['a/b'] })).toThrow(expect.objectContaining({
      code: 'ERR_INVALID_ARG_VALUE' }));
  });

  it('fallthrough false: misses are answered, not passed to next (Express)', async () => {
    const app = express();
    app.use(createStaticHandler(root, { fallthrough: false }));
    app.use((_req, res) => res.status(404).send('express 404'));
    const server = servers[servers.push(await listen(http.createServer(app))) - 1];
    const r = await fetch(`${server.url}/nothing-here`);
    expect([r.status, await r.text()]).toEqual([404, 'Not found\n']);
    const post = await fetch(`${server.url}/4k.bin`, { method: 'POST' });
    expect([post.status, post.headers.get('allow')]).toEqual([405, 'GET, HEAD']);
  });

  it('start and end: serveFile sends those bytes as the whole, ranges counted from start', async () => {
    const { server } = await serveFileServer({ root, start: 100, end: 1099 });
    const whole = await fetch(`${server.url}/4k.bin`);
    expect(whole.headers.get('content-length')).toBe('1000');
    expect(Buffer.from(await whole.arrayBuffer())).toEqual(data.get('4k.bin')!.subarray(100, 1100));
    const part = await fetch(`${server.url}/4k.bin`, { headers: { Range: 'bytes=10-19' } });
    expect([part.status, part.headers.get('content-range')]).toEqual([206, 'bytes 10-19/1000']);
    expect(Buffer.from(await part.arrayBuffer())).toEqual(data.get('4k.bin')!.subarray(110, 120));
    const { server: past } = await serveFileServer({ root, start: 4000, end: 10_000 });
    expect(Buffer.from(await (await fetch(`${past.url}/4k.bin`)).arrayBuffer())).toEqual(data.get('4k.bin')!.subarray(4000));
  });

  it('onError leaves an error to the caller for a page of its own', async () => {
    const hooked: unknown[] = [];
    const { server, results } = await serveFileServer({ root, onError: (error, res) => {
      hooked.push(error);
      res.writeHead(error.status, { 'Content-Type': 'text/html' }).end('<h1>our own page</h1>');
    } });
    const r = await fetch(`${server.url}/nothing-here`);
    expect([r.status, await r.text(), r.headers.get('content-type')]).toEqual([404, '<h1>our own page</h1>', 'text/html']);
    expect(hooked).toEqual([{ status: 404, reason: 'not found' }]);
    expect(results).toEqual([{ status: 404, bytes: 0, zeroCopy: false, reason: 'not found' }]);
  });

  it('a throwing onError is called once, its error in the result, and the status answered by us', async () => {
    let calls = 0;
    const bug = new Error('page bug');
    const { server, results } = await serveFileServer({ root, onError: () => {
      calls++;
      throw bug;
    } });
    const r = await fetch(`${server.url}/nothing-here`);
    expect([r.status, await r.text(), calls]).toEqual([404, 'Not found\n', 1]);
    expect(results).toEqual([{ status: 404, bytes: 0, zeroCopy: false, reason: 'not found', error: bug }]);
  });

  it('a throwing onResponse is a process warning, not a crash (child process)', () => {
    const script = `
      const http = require('node:http');
      const { createStaticHandler } = require(${JSON.stringify(path.join(__dirname, '..', 'lib', 'index.js'))});
      process.on('warning', (w) => console.log('warning', w.code, w.message));
      const h = createStaticHandler(${JSON.stringify(root)}, { onResponse: () => { throw new Error('logger bug'); } });
      const server = http.createServer(h).listen(0, '127.0.0.1', async () => {
        const r = await fetch('http://127.0.0.1:' + server.address().port + '/about.html');
        console.log('client', r.status, (await r.text()).length);
        setTimeout(() => { console.log('alive'); process.exit(0); }, 200);
      });`;
    const out = execFileSync(process.execPath, ['-e', script], { timeout: 20_000, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    expect(out.trim().split('\n').sort()).toEqual(['alive', 'client 200 15',
      'warning ZEROCOPY_HOOK_THREW options.onResponse threw: logger bug']);
  });

  it('works in a Koa app (ctx.respond = false)', async () => {
    const app = new Koa();
    const results: ServeResult[] = [];
    app.use(async (ctx) => {
      ctx.respond = false;
      ctx.status = 200; // Koa starts every response at 404, which serveFile would keep as a caller's status
      results.push(await serveFile(ctx.req, ctx.res, ctx.url, { root }));
    });
    const server = servers[servers.push(await listen(http.createServer(app.callback()))) - 1];
    const r = await fetch(`${server.url}/1m.bin`);
    expect(sha256(Buffer.from(await r.arrayBuffer()))).toBe(sha256(data.get('1m.bin')!));
    expect(results[0]).toMatchObject({ status: 200, bytes: 2 ** 20, zeroCopy: !FALLBACK });
  });
});

describe('a single-page app fallback', () => {
  it("serves the shell for GETs that find nothing and accept HTML, and nothing else", async () => {
    const server = await serve(createStaticHandler(root, { fallback: 'index.html' }));
    const page = await fetch(`${server.url}/users/42`, { headers: { Accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } });
    expect([page.status, page.headers.get('content-type'), await page.text()])
      .toEqual([200, 'text/html; charset=utf-8', '<h1>home</h1>\n']);
    expect((await fetch(`${server.url}/missing.js`, { headers: { Accept: '*/*' } })).status).toBe(404);
    expect((await fetch(`${server.url}/missing.png`, { headers: { Accept: 'image/png' } })).status).toBe(404);
    for (const accept of ['text/html;q=0, */*', 'application/json, TEXT/HTML ; Q=0.0', 'text/htmlx']) {
      expect((await fetch(`${server.url}/users/42`, { headers: { Accept: accept } })).status).toBe(404);
    }
    expect((await fetch(`${server.url}/users/42`, { headers: { Accept: 'Text/HTML; level=1; q=0.5' } })).status).toBe(200);
    const real = await fetch(`${server.url}/4k.bin`, { headers: { Accept: 'text/html' } });
    expect(sha256(Buffer.from(await real.arrayBuffer()))).toBe(sha256(data.get('4k.bin')!));
    expect(() => createStaticHandler(root, { fallback: '' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  });

  it('refuses a fallback that is no relative file path at creation; a directory there is a 404, not a redirect loop', async () => {
    for (const fallback of ['../x.html', '/index.html', 'docs/../index.html', './index.html', 'docs/']) {
      expect(() => createStaticHandler(root, { fallback })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    }
    const server = await serve(createStaticHandler(root, { fallback: 'docs' }));
    const r = await fetch(`${server.url}/app/route`, { headers: { Accept: 'text/html' }, redirect: 'manual' });
    expect([r.status, r.headers.get('location')]).toEqual([404, null]);
  });
});

describe('precompressed files', () => {

  it('serves x.br / x.gz beside x as Accept-Encoding allows, with the original type and Vary', async () => {
    const { server, results } = await serveFileServer({ root, precompressed: true });
    const cases: [string | undefined, string | null, Buffer][] = [
      ['gzip, deflate, br', 'br', br], ['gzip', 'gzip', gz], ['br;q=0, *', 'gzip', gz], ['x-gzip', 'gzip', gz],
      ['identity', null, text], [undefined, null, text], ['br;q=0, gzip;q=0', null, text],
      ['br;q=0.1, gzip;q=1', 'gzip', gz], ['gzip;q=0, gzip', null, text], ['br; q =0, gzip', 'gzip', gz],
      ['br;q=0.5, gzip;q=0.5', 'br', br],
    ];
    for (const [accept, encoding, body] of cases) {
      const r = await new Promise<{ headers: http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
        http.get(`${server.url}/page.txt`, { headers: accept === undefined ? {} : { 'Accept-Encoding': accept } }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c)).on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
        }).on('error', reject);
      });
      expect([accept, r.headers['content-encoding'] ?? null, r.headers['content-type'], r.headers.vary])
        .toEqual([accept, encoding, 'text/plain; charset=utf-8', 'Accept-Encoding']);
      expect(sha256(r.body)).toBe(sha256(body));
    }
    expect(results[0]).toMatchObject({ status: 200, bytes: br.length, zeroCopy: !FALLBACK, path: path.join(root, 'page.txt.br') });
    expect(zlib.brotliDecompressSync(br)).toEqual(text);
  });

  it("does not repeat Accept-Encoding in the caller's Vary", async () => {
    const { server } = await serveFileServer({ root, precompressed: true }, (_req, res) => res.setHeader('Vary', 'Origin, accept-encoding'));
    expect((await fetch(`${server.url}/page.txt`)).headers.get('vary')).toBe('Origin, accept-encoding');
  });

  it('takes ranges on the compressed bytes, follows the order given, and never leaves the root', async () => {
    const { server } = await serveFileServer({ root, precompressed: ['gzip', 'br'] });
    const raw206 = await raw(server, '/page.txt', 'Accept-Encoding: br, gzip\r\nRange: bytes=0-99\r\n');
    expect([raw206.status, raw206.headers['content-encoding'], raw206.headers['content-range']])
      .toEqual([206, 'gzip', `bytes 0-99/${gz.length}`]);
    expect(raw206.body).toEqual(gz.subarray(0, 100));
    const escaped = await raw(server, '/plain.txt', 'Accept-Encoding: gzip\r\n');
    expect([escaped.status, escaped.headers['content-encoding']]).toEqual([200, undefined]);
    expect(sha256(escaped.body)).toBe(sha256(text));
    const req = { headers: {}, method: 'GET' } as http.IncomingMessage;
    await expect(serveFile(req, new http.ServerResponse(req), '/x', { precompressed: ['zstd'] as never }))
      .rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
  });
});

describe('with curl', () => {
  it('follows a mounted redirect, sends absolute-form, and decodes a precompressed body', async () => {
    const app = express();
    app.use('/static', createStaticHandler(root, { precompressed: true }));
    const server = servers[servers.push(await listen(http.createServer(app))) - 1];
    const home = await curl(work, `${server.url}/static`, '-L');
    expect([home.exitCode, home.status, home.body.toString()]).toEqual([0, 200, '<h1>home</h1>\n']);
    const absolute = await curl(work, `${server.url}/static/4k.bin`, '--request-target',
      `http://127.0.0.1:${server.port}/static/4k.bin`);
    expect([absolute.exitCode, absolute.status]).toEqual([0, 200]);
    expect(sha256(absolute.body)).toBe(sha256(data.get('4k.bin')!));
    const compressed = await curl(work, `${server.url}/static/page.txt`, '--compressed');
    expect([compressed.exitCode, compressed.status, compressed.headers['content-encoding']]).toEqual([0, 200, 'br']);
    expect(sha256(compressed.body)).toBe(sha256(text));
  });
});

/** One chunked body from `at` (after the header end): the bytes, and where the next response starts. */
function dechunk(data: Buffer, at: number): { body: Buffer; next: number } {
  const chunks: Buffer[] = [];
  for (;;) {
    const lineEnd = data.indexOf('\r\n', at);
    const size = parseInt(data.subarray(at, lineEnd).toString('latin1'), 16);
    if (!Number.isInteger(size)) throw new Error(`no chunk size at ${at}`);
    at = lineEnd + 2;
    if (size === 0) return { body: Buffer.concat(chunks), next: data.indexOf('\r\n', at) + 2 };
    chunks.push(data.subarray(at, at + size));
    at += size + 2;
  }
}

describe('behind middleware that reframes the response', () => {
  it('compression(): the body goes through res.write, compressed, and a pipelined request gets its own answer', async () => {
    const results: ServeResult[] = [];
    const app = express();
    app.use(compression());
    app.use(createStaticHandler(root, { onResponse: (_req, r) => results.push(r) }));
    app.use((_req, res) => res.end('second\n'));
    const server = servers[servers.push(await listen(http.createServer(app))) - 1];
    const viaCurl = await curl(work, `${server.url}/plain.txt`, '--compressed');
    expect([viaCurl.exitCode, viaCurl.status, viaCurl.headers['content-encoding']]).toEqual([0, 200, 'br']);
    expect(sha256(viaCurl.body)).toBe(sha256(text));
    const reply = await rawExchange(server.port, 'GET /plain.txt HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n' +
      'GET /none HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', () => false);
    const headEnd = reply.indexOf('\r\n\r\n');
    const head = reply.subarray(0, headEnd).toString('latin1').toLowerCase();
    expect(head).toContain('transfer-encoding: chunked');
    const first = dechunk(reply, headEnd + 4);
    expect(sha256(zlib.gunzipSync(first.body))).toBe(sha256(text));
    expect(reply.subarray(first.next, first.next + 17).toString('latin1')).toBe('HTTP/1.1 200 OK\r\n');
    const second = dechunk(reply, reply.indexOf('\r\n\r\n', first.next) + 4);
    expect([second.body.toString(), second.next]).toEqual(['second\n', reply.length]);
    expect(results.map((r) => [r.status, r.bytes, r.zeroCopy, r.fallbackReason])).toEqual([
      [200, text.length, false, 'response-patched'], [200, text.length, false, 'response-patched']]);
  });
});
