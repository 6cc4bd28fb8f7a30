// A static server in a child process (test/fixtures/cache-server.mjs), optionally as another user or under
// another RLIMIT_NOFILE, driven line by line: for the open-file cache's tests.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import * as path from 'node:path';
import { createInterface } from 'node:readline';

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

