// socket -> relay -> socket: proxy (splice on the engine) against Node's a.pipe(b) / b.pipe(a) and a C
// read+write relay. A C sender (sendfile) feeds the relay; a separate process receives. The relay's own CPU
// is what counts: the bench process for the Node relays, the C relay's rusage for the baseline.
import { execFile, spawn } from 'node:child_process';
import * as net from 'node:net';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { proxy } from 'zerocopy';
import { nativeProgram } from '../lib/native.mjs';
import { tcpReceiver } from '../lib/tcp-receiver-proc.mjs';

const run = promisify(execFile);
let receiver;

/** A Node relay: listens, and for the one connection it gets, relays to the receiver with `relay(a, b)`. */
function nodeRelay(relay) {
  return ({ file, times }) => async () => {
    const sender = nativeProgram('send');
    receiver ??= await tcpReceiver();
    const server = net.createServer();
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    const relayed = new Promise((resolve) => server.once('connection', (a) => {
      const b = net.connect(receiver.port, '127.0.0.1', () => resolve(relay(a, b)));
    }));
    return async () => {
      const [report] = await Promise.all([
        receiver.report(),
        run(sender, ['sendfile', String(server.address().port), String(times), file]),
        relayed,
      ]);
      server.close();
      return report.cpu;
    };
  };
}

const pipeBoth = (a, b) => new Promise((resolve) => {
  a.pipe(b);
  b.pipe(a);
  a.on('end', resolve);
});

export const relay = {
  name: 'relay',
  title: 'socket → relay → socket (a C sendfile sender, a separate receiver)',
  baseline: 'a.pipe(b)',
  // The total relayed per run; the sender sends one 256 MiB file as many times as that takes.
  sizes: (full) => [full ? 4 << 30 : 1 << 30],
  fileSize: 256 << 20,
  methods: {
    'a.pipe(b)': nodeRelay(pipeBoth),
    proxy: nodeRelay((a, b) => proxy(a, b)),
    'C read+write relay': ({ file, times }) => async () => {
      const program = nativeProgram('relay');
      const sender = nativeProgram('send');
      receiver ??= await tcpReceiver();
      const child = spawn(program, [String(receiver.port)], { stdio: ['ignore', 'pipe', 'inherit'] });
      const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
      const port = (await lines.next()).value;
      return async () => {
        const t0 = process.hrtime.bigint();
        const [report] = await Promise.all([receiver.report(), run(sender, ['sendfile', port, String(times), file])]);
        const { cpu } = JSON.parse((await lines.next()).value);
        return { seconds: Number(process.hrtime.bigint() - t0) / 1e9, senderCpu: cpu, receiverCpu: report.cpu };
      };
    },
  },
  teardown() {
    receiver?.stop();
    receiver = undefined;
  },
};
