// How a lease-guarded transfer keeps its promise after the call. sendfile queues references to the file's
// pages, not copies, and they are read again when the peer takes them. A remote peer has them once it has
// acknowledged them: the lease is held until the send queue is empty (and the connection reset if it cannot
// be). A peer on this host (loopback, the host's own addresses, a Unix socket, a container behind a local
// bridge) receives the very same pages and reads them whenever it likes: the only sound path is a copy into
// socket memory (read/write), after which the lease has nothing left to guard.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as tls from 'node:tls';
import { leaseBroken, withBytes } from './errors';
import type { Lease } from './lease';
import { prematureClose } from './sockets';

export type LeasePath = 'copy' | 'sendfile-until-acked';

// Interfaces change rarely; containers come and go behind bridges whose subnets are already listed.
const LOCAL_ADDRESSES_TTL_MS = 5000;
let localAddresses: { list: net.BlockList; until: number } | undefined;

/** Loopback, every address of this host, and the subnets of virtual interfaces (bridges, veths, tun: no device). */
function local(): net.BlockList {
  if (localAddresses && localAddresses.until > Date.now()) return localAddresses.list;
  const list = new net.BlockList();
  list.addSubnet('127.0.0.0', 8, 'ipv4');
  list.addAddress('::1', 'ipv6');
  for (const [name, addresses] of Object.entries(os.networkInterfaces())) {
    const virtual = !fs.existsSync(`/sys/class/net/${name}/device`);
    for (const a of addresses ?? []) {
      const type = a.family === 'IPv4' ? 'ipv4' : 'ipv6';
      const address = a.address.split('%')[0];
      list.addAddress(address, type);
      if (virtual && a.cidr) list.addSubnet(address, Number(a.cidr.split('/')[1]), type);
    }
  }
  localAddresses = { list, until: Date.now() + LOCAL_ADDRESSES_TTL_MS };
  return list;
}

export function isRemotePeer(socket: net.Socket): boolean {
  const family = socket.remoteFamily;
  if ((family !== 'IPv4' && family !== 'IPv6') || socket.destroyed) return false; // a Unix socket, or not connected
  // Tests of the remote-peer path set this: every test peer is on this host (unsound for real local peers).
  if (process.env.ZEROCOPY_LEASE_PEERS === 'remote') return true;
  let address = socket.remoteAddress!;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) address = mapped[1];
  return !local().check(address, net.isIPv4(address) ? 'ipv4' : 'ipv6');
}

/**
 * The path for a leased transfer to `out`: sendfile only to a TCP peer known to be remote; a copy to anything
 * else (a peer on this host, a pipe, a file, an fd we cannot classify), which is the safe default.
 */
export function leasePathFor(out: net.Socket | number): LeasePath {
  if (!(out instanceof net.Socket) || out instanceof tls.TLSSocket) return 'copy';
  return isRemotePeer(out) ? 'sendfile-until-acked' : 'copy';
}

// Nothing signals "send queue empty" (EPOLLOUT fires on free space): poll, from the next turn of the event loop
// (a near peer has acknowledged a small response by then) to every 16 ms.
const ACK_POLL_MAX_MS = 16;

/**
 * Resolves once Node holds nothing more for the socket and its peer has acknowledged every queued byte, so that
 * the lease may go. Rejects with ERR_LEASE_BROKEN when the lease thread gave the lease up first (a break whose
 * grace ran out: it reset the connection before letting the writer go); the socket is then destroyed.
 * `bytes`/`expected` are for the error.
 */
export async function untilAcked(socket: net.Socket, lease: Lease, bytes: number, expected: number,
  path?: string): Promise<void> {
  // The lease thread may reset the connection meanwhile: that error is ours to report, not a crash.
  const onError = () => {};
  socket.on('error', onError);
  try {
    for (let wait = 0; ; wait = Math.min(Math.max(1, wait * 2), ACK_POLL_MAX_MS)) {
      if (!lease.held) throw leaseBroken(bytes, expected, path);
      const acked = lease.unacked() === 0;
      if (acked && (socket.writableLength === 0 || socket.destroyed)) return;
      // A destroyed socket stays open through the lease's duplicate until release, which resets it.
      if (socket.destroyed) throw withBytes(prematureClose(), bytes);
      await new Promise((resolve) => (wait === 0 ? setImmediate(resolve) : setTimeout(resolve, wait)));
    }
  } catch (err) {
    socket.destroy();
    throw err;
  } finally {
    socket.removeListener('error', onError);
  }
}
