// Starts bench/lib/tcp-receiver.mjs and hands out its port and, per connection, its report.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

const script = new URL('./tcp-receiver.mjs', import.meta.url).pathname;

/** A receiver on 127.0.0.1, or on the Unix socket `unixPath`; `port` is then that path. */
export async function tcpReceiver(unixPath) {
  const child = spawn(process.execPath, [script, ...(unixPath ? [unixPath] : [])], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const first = (await lines.next()).value;
  const port = unixPath ? first : Number(first);
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
