// Every public export called with bad input: wrong types, NaN, Infinity, -1, 2^53, fractions, huge bigints,
// closed fds and FileHandles, destroyed sockets, fds of the wrong kind, detached and empty buffers, aborted
// signals. Each gives a typed error with a `code` (or, where the input is harmless, a plain result) and the
// process lives on. The table is keyed by export: a new export without rows fails the first test.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as zc from '../src/index';
import { FALLBACK, tempDir } from './helpers';

// null: must not throw; 'CODE syscall' checks the error's syscall too.
type Expected = string | null;
type Row = [description: string, call: () => unknown, expected: Expected];

const dir = tempDir();
const file = path.join(dir, 'data');
fs.writeFileSync(file, Buffer.alloc(8192, 7));
const fds: Record<string, number> = {};
let socket: net.Socket;
let closedHandle: fs.promises.FileHandle;
const destroyed = new net.Socket();
destroyed.destroy();
let peer: net.Socket;
let server: net.Server;

beforeAll(async () => {
  fds.file = fs.openSync(file, 'r');
  fds.rw = fs.openSync(file, 'r+');
  fds.writeOnly = fs.openSync(path.join(dir, 'write-only'), 'w');
  fs.writeSync(fds.writeOnly, Buffer.alloc(8192, 1));
  fs.writeFileSync(path.join(dir, 'empty'), '');
  fds.dir = fs.openSync(dir, 'r');
  fds.devNull = fs.openSync('/dev/null', 'r+');
  // A number no fd has (a closed fd's number would be reused by the next open).
  const open = new Set(fs.readdirSync('/proc/self/fd').map(Number));
  fds.closed = 9000;
  while (open.has(fds.closed)) fds.closed++;
  fds.append = fs.openSync(path.join(dir, 'append'), 'a');
  closedHandle = await fs.promises.open(file, 'r+');
  await closedHandle.close();
  const pipe = zc.createPipe({ nonBlock: true });
  fds.pipeRead = pipe.readFd;
  fds.pipeWrite = pipe.writeFd;
  server = net.createServer((s) => (peer = s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await new Promise((r) => socket.once('connect', r));
  while (!peer) await new Promise((r) => setImmediate(r));
  fds.socket = (socket as unknown as { _handle: { fd: number } })._handle.fd;
});

afterAll(() => {
  for (const [name, fd] of Object.entries(fds)) if (name !== 'closed' && name !== 'socket') fs.closeSync(fd);
  socket.destroy();
  peer?.destroy();
  server.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const TYPE = 'ERR_INVALID_ARG_TYPE';
const RANGE = 'ERR_OUT_OF_RANGE';
const VALUE = 'ERR_INVALID_ARG_VALUE';
const ABORT = 'ABORT_ERR';
const aborted = () => AbortSignal.abort();

/** The usual suspects for an argument that must be an fd: each with the code it must give. */
const badFds: [string, unknown, string][] = [
  ['a string', '3', TYPE], ['null', null, TYPE], ['an object', {}, TYPE], ['a bigint', 3n, TYPE],
  ['NaN', NaN, RANGE], ['Infinity', Infinity, RANGE], ['-1', -1, RANGE], ['2^53', 2 ** 53, RANGE], ['1.5', 1.5, RANGE],
];
/** ... and for a byte count. */
const badLengths: [string, unknown, string][] = [
  ['a string', '1', TYPE], ['null', null, TYPE], ['a bigint', 2n ** 64n, TYPE], ['NaN', NaN, RANGE],
  ['Infinity', Infinity, RANGE], ['-1', -1, RANGE], ['2^53', 2 ** 53, RANGE], ['1.5', 1.5, RANGE],
];
/** ... and for a file offset (number or bigint). */
const badOffsets: [string, unknown, string][] = [
  ['a string', '1', TYPE], ['NaN', NaN, RANGE], ['Infinity', Infinity, RANGE], ['-1', -1, RANGE],
  ['-1n', -1n, RANGE], ['2^53', 2 ** 53, RANGE], ['2^64 as bigint', 2n ** 64n, RANGE], ['1.5', 1.5, RANGE],
];
const badOptions: [string, unknown, string][] = [['a number', 7, TYPE], ['a string', 'x', TYPE], ['an array', [], TYPE]];

function each(name: string, values: [string, unknown, string][], call: (v: never) => unknown): Row[] {
  return values.map(([what, v, code]) => [`${name} ${what}`, () => call(v as never), code]);
}

const req = () => Object.assign(new http.IncomingMessage(new net.Socket()), { method: 'GET', url: '/' });
const res = (r: http.IncomingMessage) => new http.ServerResponse(r);
// A wrong-kind fd is refused by the syscall (native) and by the read/write stand-in with the same code
// (fallback). Where the fallback cannot offer the call at all (tee, leases), it says so with its own code.
const UNSUPPORTED = 'ERR_ZEROCOPY_UNSUPPORTED';
const nativeOr = (native: string, fallback: string) => (FALLBACK ? fallback : native);

const table: Record<keyof typeof zc, () => Row[]> = {
  sendfileSync: () => [
    ...each('outFd', badFds, (v) => zc.sendfileSync(v, fds.file, { length: 1 })),
    ...each('inFd', badFds, (v) => zc.sendfileSync(fds.devNull, v, { length: 1 })),
    ...each('length', badLengths, (v) => zc.sendfileSync(fds.devNull, fds.file, { length: v })),
    ...each('offset', badOffsets, (v) => zc.sendfileSync(fds.devNull, fds.file, { length: 1, offset: v })),
    ...each('options', badOptions, (v) => zc.sendfileSync(fds.devNull, fds.file, v)),
    ['a closed inFd', () => zc.sendfileSync(fds.devNull, fds.closed, { length: 1 }), 'EBADF sendfile'],
    ['a closed outFd', () => zc.sendfileSync(fds.closed, fds.file, { length: 1 }), 'EBADF sendfile'],
    ['a directory as inFd', () => zc.sendfileSync(fds.devNull, fds.dir, { length: 1 }), 'EINVAL'],
    ['a write-only file as inFd', () => zc.sendfileSync(fds.devNull, fds.writeOnly, { length: 1 }), 'EBADF'],
    ['a socket as inFd', () => zc.sendfileSync(fds.devNull, fds.socket, { length: 1 }), 'EINVAL'],
    ['a read-only file as outFd', () => zc.sendfileSync(fds.file, fds.file, { length: 1 }), 'EBADF'],
  ],
  spliceSync: () => [
    ...each('fdIn', badFds, (v) => zc.spliceSync(v, fds.pipeWrite, 1)),
    ...each('fdOut', badFds, (v) => zc.spliceSync(fds.file, v, 1)),
    ...each('length', badLengths, (v) => zc.spliceSync(fds.file, fds.pipeWrite, v)),
    ...each('offsetIn', badOffsets, (v) => zc.spliceSync(fds.file, fds.pipeWrite, 1, { offsetIn: v })),
    ...each('options', badOptions, (v) => zc.spliceSync(fds.file, fds.pipeWrite, 1, v)),
    ['a non-boolean flag', () => zc.spliceSync(fds.file, fds.pipeWrite, 1, { move: 'yes' as never }), TYPE],
    ['no pipe on either side', () => zc.spliceSync(fds.file, fds.devNull, 1), 'EINVAL'],
    ['a closed fdIn', () => zc.spliceSync(fds.closed, fds.pipeWrite, 1), 'EBADF splice'],
    ['a closed fdOut', () => zc.spliceSync(fds.pipeRead, fds.closed, 1), 'EBADF splice'],
    ['a directory as fdIn', () => zc.spliceSync(fds.dir, fds.pipeWrite, 1, { offsetIn: 0 }), 'EINVAL'],
    ['a write-only file as fdIn', () => zc.spliceSync(fds.writeOnly, fds.pipeWrite, 1, { offsetIn: 0 }), 'EBADF'],
    ['an offset on a pipe', () => zc.spliceSync(fds.pipeRead, fds.devNull, 1, { offsetIn: 0 }), 'ESPIPE'],
  ],
  teeSync: () => [
    ...each('pipeIn', badFds, (v) => zc.teeSync(v, fds.pipeWrite, 1)),
    ...each('pipeOut', badFds, (v) => zc.teeSync(fds.pipeRead, v, 1)),
    ...each('length', badLengths, (v) => zc.teeSync(fds.pipeRead, fds.pipeWrite, v)),
    ...each('options', badOptions, (v) => zc.teeSync(fds.pipeRead, fds.pipeWrite, 1, v)),
    // tee has no read/write stand-in (reading would consume the pipe), but what the kernel refuses the fallback
    // refuses the same way.
    ['a file as pipeIn', () => zc.teeSync(fds.file, fds.pipeWrite, 1), 'EINVAL'],
    ['a socket as pipeOut', () => zc.teeSync(fds.pipeRead, fds.socket, 1), 'EINVAL'],
    ['a closed pipeIn', () => zc.teeSync(fds.closed, fds.pipeWrite, 1), 'EBADF tee'],
    ['a closed pipeOut', () => zc.teeSync(fds.pipeRead, fds.closed, 1), 'EBADF tee'],
    ['both ends of one pipe', () => zc.teeSync(fds.pipeRead, fds.pipeWrite, 1), 'EINVAL'],
  ],
  vmspliceSync: () => [
    ...each('pipeWriteFd', badFds, (v) => zc.vmspliceSync(v, Buffer.alloc(1))),
    ['a string as data', () => zc.vmspliceSync(fds.pipeWrite, 'abc' as never), TYPE],
    ['an ArrayBuffer as data', () => zc.vmspliceSync(fds.pipeWrite, new ArrayBuffer(4) as never), TYPE],
    ['an array of numbers', () => zc.vmspliceSync(fds.pipeWrite, [1, 2] as never), TYPE],
    ['a zero-length buffer', () => zc.vmspliceSync(fds.pipeWrite, Buffer.alloc(0)), null],
    ['a detached buffer', () => zc.vmspliceSync(fds.pipeWrite, detached()), null],
    ['a file instead of a pipe', () => zc.vmspliceSync(fds.rw, Buffer.alloc(1)), 'EBADF'],
    ['the read end of a pipe', () => zc.vmspliceSync(fds.pipeRead, Buffer.alloc(1)), 'EBADF'],
    ['a closed fd', () => zc.vmspliceSync(fds.closed, Buffer.alloc(1)), 'EBADF vmsplice'],
    ...each('options', badOptions, (v) => zc.vmspliceSync(fds.pipeWrite, Buffer.alloc(1), v)),
  ],
  copyFileRangeSync: () => [
    ...each('fdIn', badFds, (v) => zc.copyFileRangeSync(v, fds.writeOnly, 1)),
    ...each('fdOut', badFds, (v) => zc.copyFileRangeSync(fds.file, v, 1)),
    ...each('length', badLengths, (v) => zc.copyFileRangeSync(fds.file, fds.writeOnly, v)),
    ...each('offsetIn', badOffsets, (v) => zc.copyFileRangeSync(fds.file, fds.writeOnly, 1, { offsetIn: v })),
    ...each('offsetOut', badOffsets, (v) => zc.copyFileRangeSync(fds.file, fds.writeOnly, 1, { offsetOut: v })),
    ['a directory as fdIn', () => zc.copyFileRangeSync(fds.dir, fds.writeOnly, 1), 'EISDIR'],
    ['a pipe as fdIn', () => zc.copyFileRangeSync(fds.pipeRead, fds.writeOnly, 1), 'EINVAL'],
    ['a socket as fdOut', () => zc.copyFileRangeSync(fds.file, fds.socket, 1), 'EINVAL'],
    ['a read-only file as fdOut', () => zc.copyFileRangeSync(fds.file, fds.file, 1), 'EBADF'],
    ['a write-only file as fdIn', () => zc.copyFileRangeSync(fds.writeOnly, fds.rw, 1), 'EBADF'],
    ['a closed fdOut', () => zc.copyFileRangeSync(fds.file, fds.closed, 1), 'EBADF copy_file_range'],
    ['a closed fdIn', () => zc.copyFileRangeSync(fds.closed, fds.writeOnly, 1), 'EBADF copy_file_range'],
    ['an O_APPEND fdOut', () => zc.copyFileRangeSync(fds.file, fds.append, 1), 'EBADF copy_file_range'],
    ['overlapping ranges of one file', () => zc.copyFileRangeSync(fds.rw, fds.rw, 10, { offsetIn: 0, offsetOut: 5 }), 'EINVAL copy_file_range'],
  ],
  createPipe: () => [
    ...each('options', badOptions, (v) => zc.createPipe(v)),
    ...each('size', badLengths.filter(([w]) => w !== 'null'), (v) => zc.createPipe({ size: v })),
    ['size 0', () => zc.createPipe({ size: 0 }), RANGE],
    ['size 2^31', () => zc.createPipe({ size: 2 ** 31 }), RANGE],
    ['a non-boolean nonBlock', () => zc.createPipe({ nonBlock: 1 as never }), TYPE],
  ],
  capabilities: () => [['called with junk arguments', () => (zc.capabilities as (...a: unknown[]) => unknown)(1, 'x'), null]],
  stats: () => [['called with junk arguments', () => (zc.stats as (...a: unknown[]) => unknown)({}, NaN), null]],
  constants: () => [['is frozen', () => {
    if (!Object.isFrozen(zc.constants)) throw Object.assign(new Error('constants can be changed'), { code: 'NOT_FROZEN' });
  }, null]],
  configure: () => [
    ...each('options', badOptions, (v) => zc.configure(v)),
    ['engineThreads 0', () => zc.configure({ engineThreads: 0 }), RANGE],
    ['engineThreads 65', () => zc.configure({ engineThreads: 65 }), RANGE],
    ['engineThreads NaN', () => zc.configure({ engineThreads: NaN }), RANGE],
    ['engineThreads 1.5', () => zc.configure({ engineThreads: 1.5 }), RANGE],
    ['engineThreads a string', () => zc.configure({ engineThreads: '2' as never }), RANGE],
    ...(FALLBACK ? [] : [['leaseSignal SIGINT', () => zc.configure({ leaseSignal: 2 }), RANGE] as Row]),
  ],
  mapSync: () => [
    ['a number target that is not an fd', () => zc.mapSync(-1), RANGE],
    ['an object target', () => zc.mapSync({} as never), TYPE],
    ['a missing file', () => zc.mapSync(path.join(dir, 'missing')), 'ENOENT'],
    ['a directory path', () => zc.mapSync(dir), 'ENODEV'],
    ['a closed fd', () => zc.mapSync(fds.closed), 'EBADF fstat'],
    ['a closed FileHandle', () => zc.mapSync(closedHandle), 'EBADF fstat'],
    ['a pipe fd', () => zc.mapSync(fds.pipeRead), 'ENODEV'],
    ['a socket fd', () => zc.mapSync(fds.socket), 'ENODEV'],
    ['/dev/null', () => zc.mapSync(fds.devNull, { length: 1 }), 'ENODEV'],
    ['a write-only fd', () => zc.mapSync(fds.writeOnly, { length: 1 }), 'EACCES'],
    ['mode write on a read-only fd', () => zc.mapSync(fds.file, { mode: 'write' }), 'EACCES'],
    ...each('options', badOptions, (v) => zc.mapSync(file, v)),
    ...each('offset', badOffsets, (v) => zc.mapSync(file, { offset: v })),
    ...each('length', badLengths.filter(([w]) => w !== 'null'), (v) => zc.mapSync(file, { length: v })),
    ['offset past the end', () => zc.mapSync(file, { offset: 8193 }), RANGE],
    ['an unknown mode', () => zc.mapSync(file, { mode: 'rwx' as never }), VALUE],
    ['an unknown advice', () => zc.mapSync(file, { advice: 'fast' as never }), VALUE],
    ['an empty file', () => zc.mapSync(path.join(dir, 'empty')), 'EINVAL'],
  ],
  map: () => [
    ['an object target', () => zc.map({} as never), TYPE],
    ['a missing file', () => zc.map(path.join(dir, 'missing')), 'ENOENT'],
    ['a closed fd', () => zc.map(fds.closed), 'EBADF fstat'],
    ['a closed FileHandle', () => zc.map(closedHandle), 'EBADF fstat'],
    ['a length beyond 2^53', () => zc.map(file, { length: 2 ** 53 }), RANGE],
    ['an unknown mode', () => zc.map(file, { mode: 'append' as never }), VALUE],
    ['a pipe fd', () => zc.map(fds.pipeRead), 'ENODEV'],
  ],
  Mapping: () => [
    ['new Mapping()', () => new (zc.Mapping as unknown as new (...a: unknown[]) => unknown)(), 'ERR_ILLEGAL_CONSTRUCTOR'],
    ['readInto a string', () => withMapping((m) => m.readInto('x' as never)), TYPE],
    ['readInto with offset -1', () => withMapping((m) => m.readInto(Buffer.alloc(4), { offset: -1 })), RANGE],
    ['readInto past the end', () => withMapping((m) => m.readInto(Buffer.alloc(4), { offset: 8190, length: 4 })), RANGE],
    ['readInto a detached buffer', () => withMapping((m) => m.readInto(detached(), { length: 1 })), RANGE],
    ['readInto a zero-length buffer', () => withMapping((m) => m.readInto(Buffer.alloc(0))), null],
    ['advise an unknown advice', () => withMapping((m) => m.advise('soon' as never)), VALUE],
    ['advise a range past the end', () => withMapping((m) => m.advise('willneed', { offset: 9000 })), RANGE],
    ['sync with junk options', () => withMapping((m) => m.sync(5 as never)), TYPE],
    ['readInto after unmap', () => withMapping((m) => {
      m.unmap();
      m.readInto(Buffer.alloc(1));
    }), 'ERR_MAPPING_CLOSED'],
  ],
  sendFile: () => [
    ['a string as out', () => zc.sendFile('x' as never, file), TYPE],
    ['a closed fd as out', () => zc.sendFile(fds.closed, file), 'EBADF dup'],
    ['a destroyed socket as out', () => zc.sendFile(destroyed, file), 'ERR_STREAM_DESTROYED'],
    ['an object as input', () => zc.sendFile(socket, {} as never), TYPE],
    ['a missing file', () => zc.sendFile(socket, path.join(dir, 'missing')), 'ENOENT'],
    ['a closed fd as input', () => zc.sendFile(socket, fds.closed), 'EBADF dup'],
    ['a closed FileHandle as input', () => zc.sendFile(socket, closedHandle), 'EBADF dup'],
    ['a directory as input', () => zc.sendFile(fds.devNull, dir), 'EISDIR'],
    ['a write-only fd as input', () => zc.sendFile(fds.devNull, fds.writeOnly, { length: 1 }), 'EBADF'],
    ...each('offset', badOffsets, (v) => zc.sendFile(socket, file, { offset: v })),
    ...each('length', badLengths.filter(([w]) => w !== 'null'), (v) => zc.sendFile(socket, file, { length: v })),
    ['a length past the end', () => zc.sendFile(socket, file, { length: 9000 }), RANGE],
    ['onProgress not a function', () => zc.sendFile(socket, file, { onProgress: 1 as never }), TYPE],
    ['an unknown lease mode', () => zc.sendFile(socket, file, { lease: 'maybe' as never }), VALUE],
    ['an aborted signal', () => zc.sendFile(socket, file, { signal: aborted() }), ABORT],
    ['a signal that is not one', () => zc.sendFile(socket, file, { signal: {} as never }), TYPE],
  ],
  copyFileRange: () => [
    ['an object as src', () => zc.copyFileRange({} as never, path.join(dir, 'out')), TYPE],
    ['a missing src', () => zc.copyFileRange(path.join(dir, 'missing'), path.join(dir, 'out')), 'ENOENT'],
    ['a closed fd as dst', () => zc.copyFileRange(file, fds.closed), 'EBADF dup'],
    ['a closed FileHandle as dst', () => zc.copyFileRange(file, closedHandle), 'EBADF dup'],
    ['a closed fd as src', () => zc.copyFileRange(fds.closed, fds.writeOnly), 'EBADF dup'],
    ['a closed FileHandle as src', () => zc.copyFileRange(closedHandle, fds.writeOnly), 'EBADF dup'],
    ['the source itself as dst', () => zc.copyFileRange(file, file), 'EINVAL copy_file_range'],
    ['a directory as dst', () => zc.copyFileRange(file, dir), 'EISDIR'],
    ['a directory fd as dst', () => zc.copyFileRange(file, fds.dir), 'EISDIR copy_file_range'],
    ['a read-only fd as dst', () => zc.copyFileRange(file, fds.file), 'EBADF'],
    ['a pipe as src', () => zc.copyFileRange(fds.pipeRead, fds.writeOnly, { length: 1 }), 'EINVAL'],
    ...each('length', badLengths.filter(([w]) => w !== 'null'), (v) => zc.copyFileRange(file, fds.writeOnly, { length: v })),
    ['an aborted signal', () => zc.copyFileRange(file, fds.writeOnly, { signal: aborted() }), ABORT],
  ],
  proxy: () => [
    ['a fd number as a', () => zc.proxy(fds.socket as never, socket), TYPE],
    ['a plain object as b', () => zc.proxy(socket, {} as never), TYPE],
    ['the same socket twice', () => zc.proxy(socket, socket), VALUE],
    ['a destroyed socket as a', () => zc.proxy(destroyed, socket), 'ERR_STREAM_DESTROYED'],
    ['a destroyed socket as b', () => zc.proxy(socket, destroyed), 'ERR_STREAM_DESTROYED'],
    ...each('options', badOptions, (v) => zc.proxy(socket, peer, v)),
    ['an aborted signal', () => zc.proxy(socket, peer, { signal: aborted() }), ABORT],
    ['pipeSize 0', () => zc.proxy(socket, peer, { pipeSize: 0 }), RANGE],
    ['pipeSize 2^31', () => zc.proxy(socket, peer, { pipeSize: 2 ** 31 }), RANGE],
  ],
  receiveFile: () => [
    ['a fd number as socket', () => zc.receiveFile(fds.socket as never, path.join(dir, 'in')), TYPE],
    ['an object as dest', () => zc.receiveFile(socket, {} as never), TYPE],
    ['a closed fd as dest', () => zc.receiveFile(socket, fds.closed, { length: 1 }), 'EBADF dup'],
    ['a closed FileHandle as dest', () => zc.receiveFile(socket, closedHandle, { length: 1 }), 'EBADF dup'],
    ['a destroyed socket', () => zc.receiveFile(destroyed, path.join(dir, 'in'), { length: 1 }), 'ERR_STREAM_DESTROYED'],
    ['a read-only fd as dest', () => zc.receiveFile(socket, fds.file, { length: 1 }), 'EBADF'],
    ['a directory as dest', () => zc.receiveFile(socket, dir, { length: 1 }), 'EISDIR'],
    ...each('length', badLengths.filter(([w]) => w !== 'null'), (v) => zc.receiveFile(socket, path.join(dir, 'in'), { length: v })),
    ...each('offset', badOffsets, (v) => zc.receiveFile(socket, path.join(dir, 'in'), { offset: v })),
    ['an aborted signal', () => zc.receiveFile(socket, path.join(dir, 'in'), { signal: aborted() }), ABORT],
  ],
  broadcast: () => [
    ['a fd number as source', () => zc.broadcast(fds.socket as never, []), TYPE],
    ['sinks not an array', () => zc.broadcast(socket, socket as never), TYPE],
    ['a sink that is not a socket', () => zc.broadcast(socket, [{}] as never), TYPE],
    ['a destroyed sink', () => zc.broadcast(socket, [destroyed]), 'ERR_STREAM_DESTROYED'],
    ['a destroyed source', () => zc.broadcast(destroyed, []), 'ERR_STREAM_DESTROYED'],
    ['maxLag -1', () => zc.broadcast(socket, [], { maxLag: -1 }), RANGE],
    ['pipeSize 100', () => zc.broadcast(socket, [], { pipeSize: 100 }), RANGE],
    ['an aborted signal', () => zc.broadcast(socket, [], { signal: aborted() }), ABORT],
  ],
  Broadcast: () => [
    ['new Broadcast()', () => new (zc.Broadcast as unknown as new (...a: unknown[]) => unknown)(), 'ERR_ILLEGAL_CONSTRUCTOR'],
  ],
  acquireLease: () => [
    ['an unknown type', () => zc.acquireLease(file, 'exclusive' as never), VALUE],
    ['an object target', () => zc.acquireLease({} as never, 'read'), TYPE],
    ['a missing file', () => zc.acquireLease(path.join(dir, 'missing'), 'read'), 'ENOENT'],
    ['a closed fd', () => zc.acquireLease(fds.closed, 'read'), 'EBADF fcntl'],
    ['a closed FileHandle', () => zc.acquireLease(closedHandle, 'read'), 'EBADF fcntl'],
    ['a pipe', () => zc.acquireLease(fds.pipeRead, 'read'), nativeOr('EINVAL', UNSUPPORTED)],
    ['a socket', () => zc.acquireLease(fds.socket, 'read'), nativeOr('EINVAL', UNSUPPORTED)],
    ['a directory', () => zc.acquireLease(fds.dir, 'read'), nativeOr('EINVAL', UNSUPPORTED)],
    ['/dev/null', () => zc.acquireLease(fds.devNull, 'read'), nativeOr('EINVAL', UNSUPPORTED)],
    ['a read lease on a file open for writing', () => zc.acquireLease(fds.rw, 'read'), nativeOr('EAGAIN', UNSUPPORTED)],
    ...each('target', badFds.filter(([, v]) => typeof v === 'number'), (v) => zc.acquireLease(v, 'read')),
    ['an unknown onBreak', () => zc.acquireLease(file, 'read', { onBreak: 'panic' as never }), VALUE],
    ['graceMs -1', () => zc.acquireLease(file, 'read', { graceMs: -1 }), RANGE],
    ['graceMs beyond lease-break-time', () => zc.acquireLease(file, 'read', { graceMs: 10 ** 9 }), RANGE],
  ],
  getLease: () => [
    ...each('fd', badFds, (v) => zc.getLease(v)),
    ['a closed fd', () => zc.getLease(fds.closed), 'EBADF fcntl'],
  ],
  Lease: () => [['new Lease()', () => new (zc.Lease as unknown as new (...a: unknown[]) => unknown)(), 'ERR_ILLEGAL_CONSTRUCTOR']],
  alignedBuffer: () => [
    ...each('size', badLengths, (v) => zc.alignedBuffer(v)),
    ['alignment 3', () => zc.alignedBuffer(4096, 3), RANGE],
    ['alignment 2^31', () => zc.alignedBuffer(4096, 2 ** 31), RANGE],
    ['size 0', () => zc.alignedBuffer(0), null],
  ],
  openDirectSync: () => [
    ['an object target', () => zc.openDirectSync({} as never), TYPE],
    ['a missing file', () => zc.openDirectSync(path.join(dir, 'missing')), 'ENOENT open'],
    ['a directory path', () => zc.openDirectSync(dir), 'EISDIR open'],
    ['a directory fd', () => zc.openDirectSync(fds.dir), 'EISDIR open'],
    ['a closed fd', () => zc.openDirectSync(fds.closed), 'EBADF open'],
    ['a closed FileHandle', () => zc.openDirectSync(closedHandle), 'EBADF open'],
    ...each('target', badFds.filter(([, v]) => typeof v === 'number'), (v) => zc.openDirectSync(v)),
    ['unknown flags', () => zc.openDirectSync(file, 'rw' as never), VALUE],
    ...each('options', badOptions, (v) => zc.openDirectSync(file, 'r', v)),
    ['mode -1', () => zc.openDirectSync(file, 'r', { mode: -1 }), RANGE],
  ],
  openDirect: () => [
    ['an object target', () => zc.openDirect({} as never), TYPE],
    ['a missing file', () => zc.openDirect(path.join(dir, 'missing')), 'ENOENT open'],
    ['a closed fd', () => zc.openDirect(fds.closed), 'EBADF open'],
  ],
  DirectFile: () => [
    ['new DirectFile()', () => new (zc.DirectFile as unknown as new (...a: unknown[]) => unknown)(), 'ERR_ILLEGAL_CONSTRUCTOR'],
    ...each('position', badOffsets, (v) => withDirect((f) => f.read(zc.alignedBuffer(4096), v))),
    ['read into a string', () => withDirect((f) => f.read('x' as never, 0)), TYPE],
    ['readv of a non-array', () => withDirect((f) => f.readv(zc.alignedBuffer(4096) as never, 0)), TYPE],
    ['readv of 1025 buffers', () => withDirect((f) => f.readv(Array(1025).fill(zc.alignedBuffer(512)), 0)), RANGE],
    ['read into a detached buffer (0 bytes)', () => withDirect((f) => f.read(detached(), 0)), null],
    ['read into a zero-length buffer', () => withDirect((f) => f.read(zc.alignedBuffer(0), 0)), null],
    ['write on a read-only file', () => withDirect((f) => f.write(zc.alignedBuffer(4096), 0)), 'EBADF pwritev'],
    ['an aborted signal', () => withDirect((f) => f.read(zc.alignedBuffer(4096), 0, { signal: aborted() })), ABORT],
    ['a signal that is not one', () => withDirect((f) => f.read(zc.alignedBuffer(4096), 0, { signal: {} as never })), TYPE],
    ['sync with metadata 1', () => withDirect((f) => f.sync({ metadata: 1 as never })), TYPE],
  ],
  residency: () => [
    ['an object target', () => zc.residency({} as never), TYPE],
    ['a missing file', () => zc.residency(path.join(dir, 'missing')), 'ENOENT'],
    ['a closed fd', () => zc.residency(fds.closed), 'EBADF fstat'],
    ['a closed FileHandle', () => zc.residency(closedHandle), 'EBADF'],
    ...each('range', badOptions, (v) => zc.residency(file, v)),
    ...each('range.offset', badOffsets, (v) => zc.residency(file, { offset: v })),
    ...each('range.length', badLengths, (v) => zc.residency(file, { length: v })),
    ['a pipe', () => zc.residency(fds.pipeRead), 'ESPIPE'],
    ['a directory', () => zc.residency(dir), 'EISDIR'],
  ],
  evict: () => [
    ['an object target', () => zc.evict({} as never), TYPE],
    ['a closed fd', () => zc.evict(fds.closed), 'EBADF'],
    ...each('range.offset', badOffsets, (v) => zc.evict(file, { offset: v })),
  ],
  prefetch: () => [
    ['an object target', () => zc.prefetch({} as never), TYPE],
    ['a closed fd', () => zc.prefetch(fds.closed), 'EBADF'],
    ...each('range.length', badLengths, (v) => zc.prefetch(file, { length: v })),
  ],
  serveFile: () => [
    ['a null req', () => zc.serveFile(null as never, res(req()), '/x'), TYPE],
    ['a plain object res', () => zc.serveFile(req(), {} as never, '/x'), TYPE],
    ['a number path', () => zc.serveFile(req(), res(req()), 5 as never), TYPE],
    ...each('options', badOptions, (v) => zc.serveFile(req(), res(req()), '/x', v)),
    ['root a number', () => zc.serveFile(req(), res(req()), '/x', { root: 1 as never }), TYPE],
    ['an unknown dotfiles', () => zc.serveFile(req(), res(req()), '/x', { dotfiles: 'show' as never }), VALUE],
    ['an index with a slash', () => zc.serveFile(req(), res(req()), '/x', { index: '../x' }), VALUE],
    ['maxAge NaN', () => zc.serveFile(req(), res(req()), '/x', { maxAge: NaN }), RANGE],
    ['maxRanges -1', () => zc.serveFile(req(), res(req()), '/x', { maxRanges: -1 }), RANGE],
    ['smallFileThreshold Infinity', () => zc.serveFile(req(), res(req()), '/x', { smallFileThreshold: Infinity }), RANGE],
    ['an unknown lease mode', () => zc.serveFile(req(), res(req()), '/x', { lease: 1 as never }), VALUE],
  ],
  createStaticHandler: () => [
    ['a number root', () => zc.createStaticHandler(1 as never), TYPE],
    ['onResponse not a function', () => zc.createStaticHandler(dir, { onResponse: 1 as never }), TYPE],
    ['an unknown dotfiles', () => zc.createStaticHandler(dir, { dotfiles: 'x' as never }), VALUE],
    ['maxAge -1', () => zc.createStaticHandler(dir, { maxAge: -1 }), RANGE],
  ],
};

function detached(): Uint8Array {
  const buf = new Uint8Array(new ArrayBuffer(16));
  structuredClone(buf.buffer, { transfer: [buf.buffer] });
  return buf;
}

async function withDirect(use: (f: zc.DirectFile) => unknown): Promise<unknown> {
  const f = zc.openDirectSync(file);
  try {
    return await use(f);
  } finally {
    await f.close();
  }
}

function withMapping(use: (m: zc.Mapping) => unknown): unknown {
  const m = zc.mapSync(file);
  try {
    return use(m);
  } finally {
    m.unmap();
  }
}

/** The code a call gives, thrown or as a rejection (with its syscall when asked); null when it returns or resolves. */
async function outcome(call: () => unknown, withSyscall: boolean): Promise<string | null> {
  try {
    const result = call();
    if (result && typeof (result as Promise<unknown>).then === 'function') await result;
    if (result instanceof zc.Broadcast) result.close?.();
    return null;
  } catch (err) {
    const { code, syscall } = err as { code?: unknown; syscall?: unknown };
    if (typeof code !== 'string') return `no code: ${(err as Error)?.message ?? err}`;
    return withSyscall ? `${code} ${syscall}` : code;
  }
}

describe('bad input to every export', () => {
  it('has rows for every export (add rows here when you add an export)', () => {
    expect(Object.keys(table).sort()).toEqual(Object.keys(zc).sort());
  });

  for (const [name, rows] of Object.entries(table)) {
    it(`${name}: each bad input gives its code and the process lives on`, async () => {
      const failures: string[] = [];
      for (const [description, call, expected] of rows()) {
        const got = await outcome(call, expected?.includes(' ') ?? false);
        if (got !== expected) failures.push(`${description}: got ${got}, expected ${expected}`);
      }
      expect(failures).toEqual([]);
    });
  }
});
