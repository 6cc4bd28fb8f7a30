// nginx with `sendfile on`, one worker, started on 127.0.0.1 for the HTTP scenario when the Debian package is
// installed (apt-get install nginx-light): the native line that serveFile is measured against.
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { join } from 'node:path';
import { Skipped } from './skipped.mjs';

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

/**
 * Starts nginx serving `root`; resolves with its port and pid once it accepts connections. Throws Skipped, with
 * nginx's own error line, when it does not start (e.g. a directory it cannot create as this user).
 */
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
  const log = join(dir, 'nginx-error.log');
  const child = spawn(bin, ['-c', conf, '-p', dir, '-e', log], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  let exited;
  const gone = new Promise((resolve) => {
    child.on('error', (err) => resolve((exited ??= err.message)));
    // 'close': it has exited and its stderr is read to the end.
    child.on('close', (code, signal) => resolve((exited ??= signal ? `killed by ${signal}` : `exit ${code}`)));
  });
  for (let i = 0; i < 200 && exited === undefined; i++) {
    const up = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(s.destroy() || true)).on('error', () => resolve(false));
    });
    if (up) return { port, pid: child.pid, stop: () => child.kill('SIGQUIT') };
    await Promise.race([gone, new Promise((r) => setTimeout(r, 25))]);
  }
  child.kill();
  if (exited === undefined) throw new Skipped(`nginx did not start: nothing listening on 127.0.0.1:${port} after 5 s`);
  throw new Skipped(`nginx did not start (${exited}): ${whyNginxFailed(stderr, log)}`);
}

/** nginx's own error line: what it printed, else the last line of its error log. */
function whyNginxFailed(stderr, log) {
  let logged = '';
  try {
    logged = readFileSync(log, 'utf8');
  } catch {
    // it did not get as far as its log
  }
  const lines = `${stderr}\n${logged}`.split('\n').map((l) => l.trim()).filter(Boolean);
  return lines.find((l) => /\[(emerg|alert|crit)\]/.test(l)) ?? lines.at(-1) ?? 'it said nothing';
}
