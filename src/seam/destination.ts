// Where a transfer's bytes go, as 'auto' and the lease paths tell destinations apart.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { isRemotePeer } from '../lease-path';
import { socketFd } from '../sockets';
import type { Destination } from './reasons';

/**
 * A TLS socket; a TCP socket whose peer is on this host (loopback, the host's own addresses, local bridges) or
 * not; a Unix socket; a pipe; anything else is written like a file. A socket given as a bare fd has a peer we
 * cannot see: it counts as one on this host, the side that never lends page-cache pages to a reader.
 */
export function destinationOf(out: net.Socket | number): Destination {
  if (out instanceof tls.TLSSocket) return 'tls';
  if (out instanceof net.Socket) {
    const family = out.remoteFamily;
    if (family === 'IPv4' || family === 'IPv6') return isRemotePeer(out) ? 'remote-tcp' : 'local-tcp';
    const fd = socketFd(out);
    return fd !== undefined && isPipe(fd) ? 'pipe' : 'unix';
  }
  const st = stat(out);
  if (st?.isFIFO()) return 'pipe';
  return st?.isSocket() ? 'local-tcp' : 'file';
}

/** Undefined for an fd that is not open: the transfer's own use of it reports that, as its syscall says. */
function stat(fd: number): fs.Stats | undefined {
  try {
    return fs.fstatSync(fd);
  } catch {
    return undefined;
  }
}

function isPipe(fd: number): boolean {
  return stat(fd)?.isFIFO() ?? false;
}
