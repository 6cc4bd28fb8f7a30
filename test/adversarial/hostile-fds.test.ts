// Every export that takes an fd, a path or a socket, called with every hostile kind of each (closed, -1,
// directory, FIFO, blocking pipe nobody reads, O_APPEND file, eventfd, epoll fd, /dev/null, a socket where a file
// belongs and the reverse, ended and destroyed sockets, peers that reset, half-close or stall), each export in a
// child process so that a crash or a blocked event loop is seen and named. What must hold for every row:
// it settles (by itself, or within ABORT_MS of an abort), with a result or an error that has a `code`; the
// process lives; the source file is never damaged; and the rows named below give exactly what they promise.
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { jsonLines, runChild } from './child';


interface Line {
  row: string;
  outcome: string;
  abortMs?: number;
  peerBytes?: number;
  sourceIntact: boolean;
}

const LAUNCH = path.join(__dirname, 'fixtures', 'hostile-launch.py');
const CALLS = path.join(__dirname, 'fixtures', 'hostile-calls.mjs');
// Bounds that only tell a hang from an answer; the real abort latency is in the rows (abortMs).
const CHILD_TIMEOUT_MS = 45_000;
const ABORT_BOUND_MS = 1000;
const SIZE = 1 << 20;

const EXPORTS = ['sendfileSync', 'spliceSync', 'teeSync', 'vmspliceSync', 'copyFileRangeSync', 'sendFile',
  'copyFileRange', 'receiveFile', 'proxy', 'broadcast', 'mapSync', 'map', 'acquireLease', 'getLease', 'openDirect',
  'residency', 'evict', 'prefetch'];

/** Runs one export's rows in a child; rejects naming the row in flight when the child dies or hangs. */
async function transcript(exportName: string): Promise<Line[]> {
  const end = await runChild('python3', [LAUNCH, process.execPath, CALLS, exportName], CHILD_TIMEOUT_MS);
  const parsed = jsonLines<Line & { start?: string }>(end.out);
  const inFlight = parsed.length > 0 && parsed[parsed.length - 1].start;
  if (end.code === 0 && !inFlight) return parsed.filter((l) => l.start === undefined);
  const how = end.killed ? `blocked (killed after ${CHILD_TIMEOUT_MS} ms)` : `died (code ${end.code}, signal ${end.signal})`;
  throw new Error(`${exportName}: the child ${how} during "${inFlight || '?'}"\n${end.err.slice(-2000)}`);
}

const CODE = /^(E[A-Z0-9]+|ERR_[A-Z0-9_]+|ABORT_ERR)$/;

describe.concurrent('hostile fds, paths and sockets into every export', () => {
  for (const name of EXPORTS) {
    it(`${name}: every row settles with a result or a coded error, and the process lives`, async () => {
      const lines = await transcript(name);
      expect(lines.length).toBeGreaterThanOrEqual(8);
      const bad = lines.filter((l) => !(l.outcome.startsWith('ok') || CODE.test(l.outcome)) ||
        (l.abortMs ?? 0) > ABORT_BOUND_MS || !l.sourceIntact);
      expect(bad).toEqual([]);
      checkPromises(name, lines);
    });
  }
});

/** The rows that issue-level promises name, with exactly what they must give. */
function checkPromises(name: string, lines: Line[]): void {
  const row = (slot: string, kind: string) => {
    const found = lines.find((l) => l.row === `${name} ${slot} = ${kind}`);
    if (!found) throw new Error(`no row "${name} ${slot} = ${kind}"`);
    return found;
  };
  const sends = { sendFile: 'out (socket)', proxy: 'a', broadcast: 'sink' } as Record<string, string>;
  if (sends[name]) {
    // An ended, ending or destroyed socket gets nothing more: Node's own codes, and the peer sees only what was
    // written before the call ('x'; 256 KiB).
    expect(row(sends[name], 'ended socket')).toMatchObject({ outcome: 'ERR_STREAM_WRITE_AFTER_END' });
    expect(row(sends[name], 'ending socket (end() called, peer not yet told)')).toMatchObject({ outcome: 'ERR_STREAM_WRITE_AFTER_END' });
    expect(row(sends[name], 'destroyed socket')).toMatchObject({ outcome: 'ERR_STREAM_DESTROYED' });
    if (name === 'sendFile') {
      expect(row(sends[name], 'ended socket').peerBytes).toBe(1);
      expect(row(sends[name], 'ending socket (end() called, peer not yet told)').peerBytes).toBe(256 << 10);
      expect(row(sends[name], 'destroyed socket').peerBytes).toBe(0);
    }
  }
  // A socket that never connected has nothing to give or take: every socket slot says so at once.
  for (const slot of ['out (socket)', 'socket', 'a', 'source', 'sink']) {
    if (lines.some((l) => l.row.startsWith(`${name} ${slot} = `))) {
      expect(row(slot, 'never connected socket').outcome).toBe('ERR_SOCKET_CLOSED');
    }
  }
  for (const slot of ['input', 'out (fd)', 'src', 'dst', 'dest', 'target', 'inFd', 'outFd', 'fdIn', 'fdOut', 'pipeIn',
    'pipeOut', 'pipeWriteFd']) {
    if (!lines.some((l) => l.row.startsWith(`${name} ${slot} = `))) continue;
    // A closed FileHandle is a closed fd, as fs says: EBADF (raw calls and sendFile's output take numbers only).
    const raw = (name.endsWith('Sync') && name !== 'mapSync') || slot === 'out (fd)';
    const closedHandle = row(slot, 'closed FileHandle').outcome;
    if (raw) expect(closedHandle).toBe('ERR_INVALID_ARG_TYPE');
    else if (name !== 'getLease') expect(closedHandle).toBe('EBADF');
  }
  // Refused outputs fall back inside the call: the bytes arrive whole.
  if (name === 'receiveFile') expect(row('dest', 'O_APPEND file fd').outcome).toBe(`ok ${SIZE}`);
  if (name === 'sendFile') expect(row('out (fd)', 'O_APPEND file fd').outcome).toBe(`ok ${SIZE}`);
  // A blocking pipe nobody reads never blocks anything: the transfer waits and an abort ends it.
  for (const [exp, slot] of [['sendFile', 'out (fd)'], ['receiveFile', 'dest']]) {
    if (name === exp) expect(row(slot, 'blocking pipe write end, nobody reads').outcome).toBe('ABORT_ERR');
  }
  // Direct I/O takes files and devices: a FIFO path never blocks the open, and nothing without a page cache
  // pretends to have one.
  if (name === 'openDirect') {
    for (const kind of ['FIFO path (no other end)', 'FIFO fd, blocking, nobody on the other end', 'TCP socket fd', 'eventfd']) {
      expect(row('target', kind).outcome, kind).toBe('ESPIPE');
    }
    expect(row('target', 'directory path').outcome).toBe('EISDIR');
    // A character device's read may wait forever, holding an engine thread no cancel frees.
    expect(row('target', '/dev/null').outcome).toBe('ESPIPE');
    expect(row('target', 'read-only file fd').outcome).toBe('ok 65536');
    expect(row('target', 'write-only file fd').outcome).toBe('EBADF');
  }
  if (['residency', 'evict', 'prefetch'].includes(name)) {
    for (const kind of ['FIFO path (no other end)', 'TCP socket fd', 'eventfd']) expect(row('target', kind).outcome, kind).toBe('ESPIPE');
    expect(row('target', 'directory path').outcome).toBe('EISDIR');
  }
  // Copying a file onto itself never destroys it (sourceIntact is checked for every row above).
  if (name === 'copyFileRange') expect(row('dst', 'the source file itself (path)').outcome).not.toBe('ERR_FILE_TRUNCATED');
}
