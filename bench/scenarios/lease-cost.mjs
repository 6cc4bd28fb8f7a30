// What a lease costs per path, file -> TCP socket on 127.0.0.1 -> receiving process. A peer on this host gets a
// copy (read/write into socket memory: it would otherwise read the file's pages after the lease is gone); a
// remote peer gets sendfile, and the lease is held until it has acknowledged every byte. Every peer here is
// local, so the remote path is taken as the tests take it (ZEROCOPY_LEASE_PEERS=remote); on loopback its
// acknowledgements come as soon as the receiver's kernel queues the bytes, so the wait measured here is a floor.
import { sendFile } from 'zerocopy';
import { Skipped, whyNoLeases } from '../lib/skipped.mjs';
import { node, readWrite, teardown } from './file-to-socket.mjs';

/** A method that takes a lease: skipped, with why, where leases cannot be taken. */
const leased = (method) => (context) => {
  const why = whyNoLeases();
  if (why) throw new Skipped(why);
  return method(context);
};

const asRemote = (send) => async (socket, file) => {
  process.env.ZEROCOPY_LEASE_PEERS = 'remote';
  try {
    return await send(socket, file);
  } finally {
    delete process.env.ZEROCOPY_LEASE_PEERS;
  }
};

export const leaseCost = {
  name: 'lease-cost',
  title: "a lease's cost per path: file → TCP socket on 127.0.0.1 → receiving process",
  baseline: 'sendFile',
  sizes: (full) => (full ? [64 * 1024, 1 << 20, 64 << 20, 1 << 30] : [64 * 1024, 1 << 20, 64 << 20]),
  prepare: ({ file, size }) => ({ files: [file], times: Math.max(1, Math.floor((64 << 20) / size)) }),
  methods: {
    sendFile: node((socket, file) => sendFile(socket, file)),
    'lease, copy (this host)': leased(node((socket, file) => sendFile(socket, file, { lease: 'required' }))),
    'lease, sendfile-until-acked (remote)': leased(node(asRemote((socket, file) => sendFile(socket, file, { lease: 'required' })))),
    'read+write': node(readWrite),
  },
  teardown,
};
