// A child process run to its end, or killed at `timeoutMs`: how it ended and what it printed.
import { spawn } from 'node:child_process';

export interface ChildEnd {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True when it outlived `timeoutMs` and was killed. */
  killed: boolean;
  out: string;
  err: string;
}

export function runChild(command: string, args: string[], timeoutMs: number): Promise<ChildEnd> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let killed = false;
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, killed, out, err });
    });
  });
}

/** The JSON lines a child printed. */
export function jsonLines<T>(out: string): T[] {
  return out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as T);
}
