// A separate receiving process on 127.0.0.1 (or on the Unix socket path given as its argument): prints its port
// (or path), then for each connection reads to the end, closes, and prints {bytes, cpu}: the CPU seconds it spent
// on that connection.
import * as net from 'node:net';

const server = net.createServer((socket) => {
  const start = process.cpuUsage();
  let bytes = 0;
  socket.on('data', (chunk) => (bytes += chunk.length));
  socket.on('end', () => {
    const cpu = process.cpuUsage(start);
    socket.end();
    process.stdout.write(JSON.stringify({ bytes, cpu: (cpu.user + cpu.system) / 1e6 }) + '\n');
  });
  socket.on('error', () => {});
});
const unixPath = process.argv[2];
if (unixPath) server.listen(unixPath, () => process.stdout.write(`${unixPath}\n`));
else server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
process.stdin.on('end', () => process.exit(0)); // the bench ends: so do we
process.stdin.resume();
