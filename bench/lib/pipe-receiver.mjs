// Starts bench/lib/receiver.mjs reading from a fresh blocking pipe; the caller writes into `writeFd`.
import { spawn } from 'node:child_process';
import { closeSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { createPipe } from 'zerocopy';

const script = new URL('./receiver.mjs', import.meta.url).pathname;

export async function pipeReceiver(pipeSize = 1 << 20) {
  const pipe = createPipe({ size: pipeSize });
  const child = spawn(process.execPath, [script], { stdio: [pipe.readFd, 'pipe', 'inherit'] });
  closeSync(pipe.readFd);
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const first = await lines.next();
  if (first.value !== 'ready') throw new Error('receiver did not start');
  return {
    writeFd: pipe.writeFd,
    size: pipe.size,
    /** Closes the write end; resolves with the receiver's report: { bytes, cpu }. */
    async finish() {
      closeSync(pipe.writeFd);
      const report = await lines.next();
      return JSON.parse(report.value);
    },
  };
}
