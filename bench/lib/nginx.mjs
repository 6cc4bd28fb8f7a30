// nginx with `sendfile on`, one worker, started on 127.0.0.1 for the HTTP scenario when the Debian package is
// installed (apt-get install nginx-light): the native line that serveFile is measured against.
import { execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { join } from 'node:path';

const BINARIES = ['nginx', '/usr/sbin/nginx'];

export function findNginx() {
  for (const bin of BINARIES) {
    try {
      execFileSync(bin, ['-v'], { stdio: 'ignore' });
      return bin;
    } catch {
      // not this one
    }
  }
  return null;
}

async function freePort() {
  const server = net.createServer();
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

/** Starts nginx serving `root`; resolves with its port and pid once it accepts connections. */
export async function startNginx(bin, dir, root) {
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, `${process.getuid?.() === 0 ? 'user root;\n' : ''}worker_processes 1;
daemon off;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'nginx-error.log')};
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  default_type application/octet-stream;
  client_body_temp_path ${dir};
  proxy_temp_path ${dir};
  server { listen 127.0.0.1:${port}; root ${root}; }
}
`);
  const child = spawn(bin, ['-c', conf, '-p', dir, '-e', join(dir, 'nginx-error.log')], { stdio: 'ignore' });
  for (let i = 0; i < 200; i++) {
    const up = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(s.destroy() || true)).on('error', () => resolve(false));
    });
    if (up) return { port, pid: child.pid, stop: () => child.kill('SIGQUIT') };
    await new Promise((r) => setTimeout(r, 25));
  }
  child.kill();
  throw new Error('nginx did not start');
}
