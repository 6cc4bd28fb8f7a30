// zerocopy/fastify in real Fastify 5 apps: through fastify.inject (no socket: the copy path) and over a real
// socket on 127.0.0.1 (zero-copy), with exact bytes, ranges, directory redirects under the prefix, misses handed
// to Fastify's not-found handler, and reply.sendFile from a route of the app.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Fastify from 'fastify';
import { fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import zerocopyStatic from '../src/http/fastify';
import type { ServeResult } from '../src/index';
import { FALLBACK, randomFile, sha256, tempDir } from './helpers';

const work = tempDir();
const root = path.join(work, 'www');
let big: Buffer;
const results: ServeResult[] = [];

function app() {
  const fastify = Fastify();
  void fastify.register(zerocopyStatic, { root, prefix: '/static/', onResponse: (_req, r) => results.push(r),
    fallback: 'index.html' });
  fastify.get('/download', (_request, reply) => reply.sendFile('docs/big file.bin', { maxAge: '1h' }));
  return fastify;
}

beforeAll(() => {
  fs.mkdirSync(path.join(root, 'docs'), { recursive: true });
  big = randomFile(path.join(root, 'docs'), 2 ** 20, 'big file.bin').data;
  fs.writeFileSync(path.join(root, 'index.html'), '<h1>app</h1>\n');
});
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

describe('zerocopy/fastify', () => {
  it('serves under the prefix through fastify.inject: bytes, ranges, redirects, misses to Fastify', async () => {
    const fastify = app();
    results.length = 0;
    const whole = await fastify.inject({ url: '/static/docs/big%20file.bin' });
    expect([whole.statusCode, whole.headers['content-length']]).toEqual([200, String(2 ** 20)]);
    expect(sha256(whole.rawPayload)).toBe(sha256(big));
    expect(results[0]).toMatchObject({ status: 200, bytes: 2 ** 20, zeroCopy: false, fallbackReason: 'no-socket' });
    const part = await fastify.inject({ url: '/static/docs/big%20file.bin', headers: { range: 'bytes=100-199' } });
    expect([part.statusCode, part.headers['content-range']]).toEqual([206, `bytes 100-199/${2 ** 20}`]);
    expect(part.rawPayload).toEqual(big.subarray(100, 200));
    const dir = await fastify.inject({ url: '/static/docs' });
    expect([dir.statusCode, dir.headers.location]).toEqual([301, '/static/docs/']);
    const missing = await fastify.inject({ url: '/static/nothing.js' });
    expect([missing.statusCode, missing.json()]).toEqual([404, expect.objectContaining({ error: 'Not Found' })]);
    const page = await fastify.inject({ url: '/static/some/route', headers: { accept: 'text/html,*/*;q=0.8' } });
    expect([page.statusCode, page.body]).toEqual([200, '<h1>app</h1>\n']);
    const head = await fastify.inject({ method: 'HEAD', url: '/static/index.html' });
    expect([head.statusCode, head.headers['content-length'], head.rawPayload.length]).toEqual([200, '13', 0]);
    await fastify.close();
  });

  it('decorates reply.sendFile (a path under root, options merged)', async () => {
    const fastify = app();
    const r = await fastify.inject({ url: '/download' });
    expect([r.statusCode, r.headers['cache-control']]).toEqual([200, 'public, max-age=3600']);
    expect(sha256(r.rawPayload)).toBe(sha256(big));
    await fastify.close();
  });

  it('reply.sendFile with bad options rejects before taking the reply over (Fastify answers 500, no hang)', async () => {
    const fastify = Fastify();
    void fastify.register(zerocopyStatic, { root, serve: false });
    fastify.get('/bogus', (_request, reply) => reply.sendFile('index.html', { bogus: 1 } as never));
    fastify.get('/age', async (_request, reply) => { await reply.sendFile('index.html', { maxAge: 'forever' }); });
    for (const url of ['/bogus', '/age']) {
      const r = await fastify.inject({ url, signal: AbortSignal.timeout(10_000) } as never); // the old code hung
      expect([url, r.statusCode, r.json().code]).toEqual([url, 500, 'ERR_INVALID_ARG_VALUE']);
    }
    await fastify.close();
  });

  it("reply.sendFile(path, rootPath) (@fastify/static's signature) serves under that root", async () => {
    const fastify = Fastify();
    void fastify.register(zerocopyStatic, { root: work, serve: false });
    fastify.get('/rooted', (_request, reply) => reply.sendFile('big file.bin', path.join(root, 'docs'), { maxAge: 60 }));
    const r = await fastify.inject({ url: '/rooted' });
    expect([r.statusCode, r.headers['cache-control']]).toEqual([200, 'public, max-age=60']);
    expect(sha256(r.rawPayload)).toBe(sha256(big));
    await fastify.close();
  });

  it('carries headers set with reply.header() / reply.type() in hooks and routes onto the response', async () => {
    const fastify = Fastify();
    void fastify.register(zerocopyStatic, { root, prefix: '/static/' });
    fastify.addHook('onRequest', async (_request, reply) => { reply.header('x-hook', 'on'); });
    fastify.get('/typed', (_request, reply) => reply.header('x-route', '1').type('text/x-app').sendFile('index.html'));
    const served = await fastify.inject({ url: '/static/index.html' });
    expect([served.statusCode, served.headers['x-hook']]).toEqual([200, 'on']);
    const typed = await fastify.inject({ url: '/typed' });
    expect([typed.headers['x-hook'], typed.headers['x-route'], typed.headers['content-type'], typed.body])
      .toEqual(['on', '1', 'text/x-app', '<h1>app</h1>\n']);
    await fastify.close();
  });

  it('sends zero-copy over a real socket', async () => {
    const fastify = app();
    const address = await fastify.listen({ port: 0, host: '127.0.0.1' });
    try {
      results.length = 0;
      const r = await fetch(`${address}/static/docs/big%20file.bin`);
      expect(sha256(Buffer.from(await r.arrayBuffer()))).toBe(sha256(big));
      expect(results[0]).toMatchObject({ status: 200, bytes: 2 ** 20, zeroCopy: !FALLBACK });
      const other = await fetch(`${address}/download`);
      expect(sha256(Buffer.from(await other.arrayBuffer()))).toBe(sha256(big));
    } finally {
      await fastify.close();
    }
  });

  it("refuses an unknown option at registration, naming the known ones", async () => {
    const fastify = Fastify();
    await expect(fastify.register(zerocopyStatic, { root, maxage: 1 } as never).ready()).rejects.toMatchObject({
      code: 'ERR_INVALID_ARG_VALUE', message: expect.stringContaining('fallthrough') });
  });

  it('loads as zerocopy/fastify from native ESM (the package export, the built lib/)', () => {
    const script = `import Fastify from 'fastify'; import plugin from 'zerocopy/fastify';
      const app = Fastify(); app.register(plugin, { root: ${JSON.stringify(root)}, prefix: '/s' });
      const r = await app.inject({ url: '/s/index.html' }); console.log(r.statusCode, r.body.trim());`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: path.join(__dirname, '..'),
      encoding: 'utf8', timeout: 30_000 });
    expect(out.trim()).toBe('200 <h1>app</h1>');
  });
});

describe('zerocopy/fastify arguments', () => {
  it.each([
    [{ root: 7 }, 'ERR_INVALID_ARG_TYPE'], [{ root, prefix: 'static' }, 'ERR_INVALID_ARG_VALUE'],
    [{ root, serve: 'yes' }, 'ERR_INVALID_ARG_TYPE'], [{ root, fallthrough: 1 }, 'ERR_INVALID_ARG_TYPE'],
  ])('refuses %o at registration with %s', async (options, code) => {
    await expect(Fastify().register(zerocopyStatic, options as never).ready()).rejects.toMatchObject({ code });
  });

  it('serve: false registers no route, only reply.sendFile', async () => {
    const fastify = Fastify();
    void fastify.register(zerocopyStatic, { root, serve: false });
    fastify.get('/one', (_request, reply) => reply.sendFile('index.html'));
    expect((await fastify.inject({ url: '/index.html' })).statusCode).toBe(404);
    expect((await fastify.inject({ url: '/one' })).body).toBe('<h1>app</h1>\n');
    const up = Fastify();
    void up.register(zerocopyStatic, { root, serve: false });
    up.get('/up', (_request, reply) => reply.sendFile('../../etc/hostname'));
    expect((await up.inject({ url: '/up' })).statusCode).toBe(403);
    await Promise.all([fastify.close(), up.close()]);
  });

  it('registers twice with decorateReply: false on the second (two roots, two prefixes), as @fastify/static', async () => {
    const other = path.join(work, 'other');
    fs.mkdirSync(other, { recursive: true });
    fs.writeFileSync(path.join(other, 'index.html'), 'other\n');
    const fastify = Fastify();
    void fastify.register(zerocopyStatic, { root, prefix: '/a/' });
    void fastify.register(zerocopyStatic, { root: other, prefix: '/b/', decorateReply: false });
    fastify.get('/one', (_request, reply) => reply.sendFile('index.html'));
    expect((await fastify.inject({ url: '/a/index.html' })).body).toBe('<h1>app</h1>\n');
    expect((await fastify.inject({ url: '/b/index.html' })).body).toBe('other\n');
    expect((await fastify.inject({ url: '/one' })).body).toBe('<h1>app</h1>\n'); // the first root's
    const bad = Fastify();
    void bad.register(zerocopyStatic, { root, decorateReply: 'no' as unknown as boolean });
    await expect(bad.ready()).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    await Promise.all([fastify.close(), bad.close()]);
  });
});
