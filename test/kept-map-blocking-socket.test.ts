// A kept file served (strategy 'auto', to 127.0.0.1) on a socket whose description is blocking (the handler set
// it so with the handle's setBlocking, as Node does for stdio pipes), to a client that stalls. A write from the
// map then waits in the kernel under Hold::Begin. A writer overwrites the file in place (0x01 -> 0x02, same
// size): the lease thread waits its 200 ms for that write to end, then lets the writer go anyway. The write,
// still under way, copies the writer's bytes from the map once the client reads, and no check follows it: the
// response ended complete, a 200 with every byte of its Content-Length, 0x01 then 0x02: a body the file never held.
// Writes under the lease are now told never to wait (MSG_DONTWAIT), whatever the socket's description says.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { walkableDirs } from './cache-server';
import { FALLBACK, sleep } from './helpers';
import { stalledGet } from './http-clients';

const dirs = walkableDirs();

describe.skipIf(FALLBACK)('a kept file overwritten while a write from its map waits on a blocking socket', () => {
  it('no complete body mixes the bytes from before the write with those after', async () => {
    const root = dirs('blocking');
    const size = 8 << 20; // more than the socket buffers hold while the client stalls (~4 MiB here)
    const file = path.join(root, 'f.bin');
    fs.writeFileSync(file, Buffer.alloc(size, 1));
    const lib = JSON.stringify(path.join(__dirname, '..', 'lib', 'index.js'));
    const server: ChildProcess = spawn(process.execPath, ['--input-type=module', '-e', `
      import * as http from 'node:http';
      import zerocopy from ${lib};
      const handler = zerocopy.createStaticHandler(${JSON.stringify(root)});
      const server = http.createServer((req, res) => {
        if (req.headers['x-blocking']) req.socket._handle.setBlocking(true);
        handler(req, res);
      });
      server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));`],
    { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const port = Number(await new Promise<string>((resolve) => server.stdout!.once('data', (d) => resolve(`${d}`))));
      await stalledGet(port, '/f.bin', false).received(); // kept: leased and mapped
      expect((await stalledGet(port, '/f.bin', false).received()).body.equals(Buffer.alloc(size, 1))).toBe(true);
      const stalled = stalledGet(port, '/f.bin', true, 'X-Blocking: 1\r\n');
      await sleep(300); // the socket buffers fill; the server's write waits for room
      const writer = spawnSync(process.execPath, ['-e', `const fs = require('fs');
        const fd = fs.openSync(${JSON.stringify(file)}, 'r+');
        fs.writeSync(fd, Buffer.alloc(${size}, 2), 0, ${size}, 0);
        fs.closeSync(fd);`], { timeout: 20_000 });
      expect(writer.status).toBe(0);
      stalled.socket.resume();
      const { status, body } = await stalled.received();
      const ones = body.indexOf(2) < 0 ? body.length : body.indexOf(2);
      const said = `${status}: ${body.length} of ${size} bytes, ${ones} x 0x01 then ${body.length - ones} more`;
      const oneState = body.equals(Buffer.alloc(size, 1)) || body.equals(Buffer.alloc(size, 2));
      // A cut body (the write seen) or one state of the file; never a whole body from two states.
      expect(body.length < size || oneState, said).toBe(true);
    } finally {
      server.kill('SIGKILL');
    }
  }, 60_000);
});
