// A kept file served (strategy 'auto', to 127.0.0.1) to a client that stalls, so that the rest of the response
// waits in the engine; the server is then stopped by SIGSTOP (uncatchable: a debugger, `docker pause`'s freezer,
// a job-control stop that is not SIGTSTP). A writer overwrites the file in place (0x01 -> 0x02, same size): the
// kernel makes it wait lease-break-time (set to 1 s here), then takes the lease away itself. On SIGCONT the
// engine goes on writing from the map, each write opened by Hold::Begin, which still reads the lease as held
// until the lease thread has handled the break signal that waited through the stop. The response could then end
// complete: a 200 with every byte of its Content-Length, 0x01 then 0x02, a body the file never held. Each write
// now asks the kernel too (F_GETLEASE: no lease, or one breaking), and the response is cut.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { walkableDirs } from './cache-server';
import { FALLBACK, sleep } from './helpers';
import { stalledGet } from './http-clients';

const dirs = walkableDirs();
const BREAK_TIME = '/proc/sys/fs/lease-break-time';
const canSetBreakTime = (() => {
  try {
    fs.accessSync(BREAK_TIME, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
})();

const stoppedServer = 'a kept file overwritten while its server is stopped mid-response';
describe.skipIf(FALLBACK || !canSetBreakTime)(stoppedServer, () => {
  it('after SIGCONT, no complete body mixes the bytes from before the write with those after', async () => {
    const root = dirs('stopped');
    // More than the socket buffers hold while the client stalls (~4 MiB here), so that part is left to the
    // engine, and little enough more that the engine's first writes after SIGCONT can finish it.
    const size = 6 << 20;
    const file = path.join(root, 'f.bin');
    const saved = fs.readFileSync(BREAK_TIME, 'utf8');
    const fixture = path.join(__dirname, 'fixtures', 'cache-server.mjs');
    const server: ChildProcess = spawn(process.execPath, [fixture, root, 'handler'],
      { env: { ...process.env, CACHE_OPTIONS: '{}' }, stdio: ['pipe', 'pipe', 'inherit'] });
    const outcomes: { said: string; mixed: boolean }[] = [];
    try {
      const port = Number(await new Promise<string>((resolve) => server.stdout!.once('data', (d) => resolve(`${d}`))));
      for (let round = 0; round < 6; round++) {
        fs.writeFileSync(file, Buffer.alloc(size, 1));
        await stalledGet(port, '/f.bin', false).received(); // kept (leased and mapped) again
        const whole = await stalledGet(port, '/f.bin', false).received();
        expect(whole.body.equals(Buffer.alloc(size, 1))).toBe(true);
        const stalled = stalledGet(port, '/f.bin', true);
        await sleep(300); // the socket buffers fill; the rest waits in the engine
        // The setting is the whole machine's: 1 s only for this one break (and this file runs alone: *.alone.ts).
        fs.writeFileSync(BREAK_TIME, '1');
        process.kill(server.pid!, 'SIGSTOP');
        try {
          const writer = spawnSync(process.execPath, ['-e', `const fs = require('fs');
            const fd = fs.openSync(${JSON.stringify(file)}, 'r+');
            fs.writeSync(fd, Buffer.alloc(${size}, 2), 0, ${size}, 0);
            fs.closeSync(fd);`], { timeout: 20_000 });
          fs.writeFileSync(BREAK_TIME, saved);
          expect(writer.status).toBe(0); // after lease-break-time: the kernel took the lease away
          stalled.socket.resume();
          await sleep(200); // the client has read what the buffers held: 0x01s
        } finally {
          process.kill(server.pid!, 'SIGCONT');
        }
        const { status, body } = await stalled.received();
        const ones = body.indexOf(2) < 0 ? body.length : body.indexOf(2);
        const complete = body.length === size;
        const oneState = body.equals(Buffer.alloc(size, 1)) || body.equals(Buffer.alloc(size, 2));
        const said = `${status}: ${body.length} of ${size} bytes, ${ones} x 0x01 then ${body.length - ones} more`;
        outcomes.push({ said, mixed: complete && !oneState });
        if (complete && !oneState) break;
      }
      // Each outcome is a cut body or one state of the file; never a whole body from two states.
      const said = outcomes.map((o) => o.said).join('\n');
      expect(outcomes.filter((o) => o.mixed).map((o) => o.said), said).toEqual([]);
    } finally {
      fs.writeFileSync(BREAK_TIME, saved);
      server.kill('SIGKILL');
    }
  }, 120_000);
});
