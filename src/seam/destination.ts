// Where a transfer's bytes go, as 'auto' and the lease paths tell destinations apart.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { isRemotePeer } from '../lease-path';
import { socketFd } from '../sockets';
import type { Destination } from './reasons';

/**
 * A connected socket's destination, once seen: its peer does not change while the connection lasts, and telling
 * it costs a peer lookup in the host's address list per response (keep-alive connections ask once per request).
 * Keyed by the connection's libuv handle, not the net.Socket: a socket connected again (a client's reconnect,
 * perhaps to a peer of another class) has a new handle.
 */
const connectionDestinations = new WeakMap<object, Destination>();

/**
 * A TLS socket; a TCP socket whose peer is on this host (loopback, the host's own addresses, local bridges) or
 * not; a Unix socket; a pipe; anything else is written like a file. A socket given as a bare fd has a peer we
 * cannot see: it counts as one on this host, the side that never lends page-cache pages to a reader.
 */
export function destinationOf(out: net.Socket | number): Destination {
  if (out instanceof tls.TLSSocket) return 'tls';
  if (out instanceof net.Socket) {
    const handle = (out as unknown as { _handle?: object | null })._handle;
    const known = handle && connectionDestinations.get(handle);
    if (known) return known;
    const family = out.remoteFamily;
    const fd = socketFd(out);
    const tcp = family === 'IPv4' || family === 'IPv6';
    const destination = tcp ? (isRemotePeer(out) ? 'remote-tcp' : 'local-tcp') : fd !== undefined && isPipe(fd) ? 'pipe' : 'unix';
    if (handle && (tcp || fd !== undefined)) connectionDestinations.set(handle, destination);
    return destination;
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
