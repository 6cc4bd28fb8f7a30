// For the open-file cache's tests: a static server in a child process (test/fixtures/cache-server.mjs),
// optionally as another user or under another RLIMIT_NOFILE, driven line by line; directories such a user can
// walk through; one keep-alive client.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll } from 'vitest';
import type { Server } from './http-clients';
import { tempDir } from './helpers';

/** A temp dir the unprivileged servers can walk through (removed after the file's tests): fresh 0755 dirs in it. */
export function walkableDirs(): (name: string) => string {
  const work = tempDir();
  fs.chmodSync(work, 0o755);
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));
  let dirs = 0;
  return (name) => {
    const dir = path.join(work, `${name}-${dirs++}`);
    fs.mkdirSync(dir, { mode: 0o755 });
    return dir;
  };
}

/** One keep-alive connection (closed after the file's tests), and a GET over it: status, headers and body. */
export function keepAliveClient(): { agent: http.Agent; get: (server: Server, url: string) =>
  Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> } {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  afterAll(() => agent.destroy());
  const get = (server: Server, url: string) =>
    new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
      http.get(`${server.url}${url}`, { agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      }).on('error', reject);
    });
  return { agent, get };
}

/** test/fixtures/cache-server.mjs: a static server in a child process (optionally as another user). */
export class ChildServer {
  #child: ChildProcessWithoutNullStreams;
  #lines: AsyncIterator<string>;

  /** `nofile`: its RLIMIT_NOFILE (set by the shell that execs it); `options`: the handler's. */
  constructor(root: string, mode: 'handler' | 'per-request', uid?: number, more: { nofile?: number; options?: object } = {}) {
    const args = [path.join(__dirname, 'fixtures', 'cache-server.mjs'), root, mode, ...(uid === undefined ? [] : [String(uid)])];
    const env = { ...process.env, CACHE_OPTIONS: JSON.stringify(more.options ?? {}) };
    this.#child = more.nofile === undefined ? spawn(process.execPath, args, { env }) :
      spawn('bash', ['-c', `ulimit -n ${more.nofile} && exec "$0" "$@"`, process.execPath, ...args], { env });
    this.#lines = createInterface({ input: this.#child.stdout })[Symbol.asyncIterator]();
  }

  async line(command?: string): Promise<string> {
    if (command !== undefined) this.#child.stdin.write(`${command}\n`);
    const next = await Promise.race([this.#lines.next(), new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`cache-server did not answer ${command}`)), 60_000))]);
    if (next.done) throw new Error('cache-server exited');
    return next.value;
  }

  get port(): Promise<number> {
    return this.line().then(Number);
  }

  end(): Promise<void> {
    this.#child.stdin.end();
    const exited = new Promise<void>((resolve) => this.#child.once('exit', () => resolve()));
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 10_000);
    return exited.finally(() => clearTimeout(timer));
  }
}

