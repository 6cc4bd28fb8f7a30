// Starts bench/lib/tcp-receiver.mjs and hands out its port and, per connection, its report.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

const script = new URL('./tcp-receiver.mjs', import.meta.url).pathname;

export async function tcpReceiver() {
  const child = spawn(process.execPath, [script], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const port = Number((await lines.next()).value);
  return {
    port,
    /** The next connection's report: { bytes, cpu }. */
    async report() {
      return JSON.parse((await lines.next()).value);
    },
    stop() {
      child.stdin.end();
    },
  };
}
