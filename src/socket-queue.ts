// One ordered output queue per socket while transfers use it. Bytes that a transfer writes straight into the
// socket's fd must neither overtake what Node still holds for that socket nor be overtaken by what JS writes
// while the transfer runs. So the first transfer on a socket routes socket.write()/end() through this queue
// (the strongest form of cork), each transfer starts only when Node's own queue has drained, and the plain
// methods come back once the queue is empty. Backpressure is kept meanwhile: queued bytes count in
// writableLength, write() answers false past writableHighWaterMark, and 'drain' comes once they have gone on.
import type * as net from 'node:net';
import { abortError } from './errors';

type WriteArgs = Parameters<net.Socket['write']>;
type EndArgs = Parameters<net.Socket['end']>;

type Item =
  | { kind: 'write'; args: WriteArgs; bytes: number }
  | { kind: 'end'; args: EndArgs }
  | { kind: 'transfer'; run: (io: SocketIo) => Promise<void> };

/** What a transfer may do with the socket during its turn. */
export interface SocketIo {
  /** The socket's own write, bypassing the queue (for read/write fallbacks). */
  write(chunk: Uint8Array, callback?: (err?: Error | null) => void): boolean;
}

const queues = new WeakMap<net.Socket, OutputQueue>();

/** The bytes a socket.write() call queues (sockets are never in object mode). */
function byteLength(args: WriteArgs): number {
  const [chunk, encoding] = args as [string | Uint8Array, unknown];
  if (typeof chunk !== 'string') return chunk?.byteLength ?? 0;
  return Buffer.byteLength(chunk, typeof encoding === 'string' ? encoding as BufferEncoding : 'utf8');
}

/** A getter of the socket's own class (writableLength, writableNeedDrain), found along its prototype chain. */
function classGetter(socket: net.Socket, name: string): () => unknown {
  const first = Object.getPrototypeOf(socket) as object | null;
  const known = first && classGetters.get(first)?.get(name);
  if (known) return known;
  let getter: (() => unknown) | undefined;
  for (let proto = first; proto && !getter; proto = Object.getPrototypeOf(proto) as object | null) {
    getter = Object.getOwnPropertyDescriptor(proto, name)?.get;
  }
  getter ??= () => undefined;
  if (first) {
    if (!classGetters.has(first)) classGetters.set(first, new Map());
    classGetters.get(first)!.set(name, getter);
  }
  return getter;
}

/** Found once per class: isFlushed() asks on every fast-path send. */
const classGetters = new WeakMap<object, Map<string, () => unknown>>();

class OutputQueue {
  private readonly items: Item[] = [];
  private readonly write: net.Socket['write'];
  private readonly end: net.Socket['end'];
  private readonly ownWrite: PropertyDescriptor | undefined;
  private readonly ownEnd: PropertyDescriptor | undefined;
  private queuedBytes = 0;
  /** A write() answered false: 'drain' is owed once the queued bytes have gone on. */
  private needDrain = false;

  constructor(private readonly socket: net.Socket) {
    this.write = socket.write;
    this.end = socket.end;
    this.ownWrite = Object.getOwnPropertyDescriptor(socket, 'write');
    this.ownEnd = Object.getOwnPropertyDescriptor(socket, 'end');
    const writableLength = classGetter(socket, 'writableLength');
    const writableNeedDrain = classGetter(socket, 'writableNeedDrain');
    Object.defineProperty(socket, 'writableLength', {
      configurable: true,
      get: () => (writableLength.call(socket) as number) + this.queuedBytes,
    });
    Object.defineProperty(socket, 'writableNeedDrain', {
      configurable: true,
      get: () => this.needDrain || writableNeedDrain.call(socket) === true,
    });
    socket.write = ((...args: WriteArgs) => {
      const bytes = byteLength(args);
      this.items.push({ kind: 'write', args, bytes });
      this.queuedBytes += bytes;
      if (socket.writableLength < socket.writableHighWaterMark) return true;
      this.needDrain = true;
      return false;
    }) as net.Socket['write'];
    socket.end = ((...args: EndArgs) => {
      this.items.push({ kind: 'end', args });
      this.endQueued = true;
      return socket;
    }) as net.Socket['end'];
  }

  /** end() was called and waits its turn: the socket is ending, and takes no more transfers. */
  endQueued = false;

  add(run: (io: SocketIo) => Promise<void>): void {
    this.items.push({ kind: 'transfer', run });
  }

  async drain(): Promise<void> {
    const io: SocketIo = {
      write: (chunk, callback) => (this.write as (c: Uint8Array, cb?: (err?: Error | null) => void) => boolean)
        .call(this.socket, chunk, callback),
    };
    try {
      for (let item = this.items.shift(); item; item = this.items.shift()) {
        if (item.kind === 'write') this.pass(item.args, item.bytes);
        else if (item.kind === 'end') this.end.apply(this.socket, item.args);
        else await item.run(io);
      }
    } finally {
      queues.delete(this.socket);
      this.restore();
    }
  }

  /**
   * Hands a queued write to the socket's own write. The 'drain' we owe is Node's to emit when its own write
   * answers false (its buffer is then past the mark too); else ours, once the queue is back under the mark.
   */
  private pass(args: WriteArgs, bytes: number): void {
    this.queuedBytes -= bytes;
    const room = this.write.apply(this.socket, args);
    if (!this.needDrain || this.socket.writableLength >= this.socket.writableHighWaterMark) return;
    this.needDrain = false;
    if (room) process.nextTick(() => this.socket.emit('drain'));
  }

  private restore(): void {
    restoreMethod(this.socket, 'write', this.ownWrite);
    restoreMethod(this.socket, 'end', this.ownEnd);
    // Anything written while the last item ran goes out now, in order.
    for (let item = this.items.shift(); item; item = this.items.shift()) {
      if (item.kind === 'write') this.pass(item.args, item.bytes);
      else if (item.kind === 'end') this.end.apply(this.socket, item.args);
    }
    delete (this.socket as unknown as Record<string, unknown>).writableLength;
    delete (this.socket as unknown as Record<string, unknown>).writableNeedDrain;
  }
}

function restoreMethod(socket: net.Socket, name: 'write' | 'end', own: PropertyDescriptor | undefined): void {
  if (own) Object.defineProperty(socket, name, own);
  else delete (socket as unknown as Record<string, unknown>)[name];
}

/**
 * Runs `transfer` when every byte queued before it has been handed to the kernel; JS writes made meanwhile
 * wait and go out after it, in order. An abort of `signal` while it waits (for an earlier transfer, or for Node
 * to flush to a peer that does not read) rejects at once with `aborted()`, and the transfer never runs.
 */
export function enqueueTransfer<T>(socket: net.Socket, transfer: (io: SocketIo) => Promise<T>, signal?: AbortSignal,
  aborted: () => Error = () => abortError(0, signal)): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal?.aborted) {
      reject(aborted());
      return;
    }
    let waiting = true;
    const onAbort = () => {
      waiting = false;
      reject(aborted());
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    let queue = queues.get(socket);
    const fresh = !queue;
    if (!queue) {
      queue = new OutputQueue(socket);
      queues.set(socket, queue);
    }
    queue.add(async (io) => {
      try {
        if (waiting) await flushed(socket, io);
        if (!waiting) return;
        signal?.removeEventListener('abort', onAbort);
        resolve(await transfer(io));
      } catch (err) {
        signal?.removeEventListener('abort', onAbort);
        reject(err);
      }
    });
    if (fresh) void queue.drain();
  });
}

const EMPTY = Buffer.alloc(0);

/** end() was called on this socket while a transfer owned it, and waits its turn. */
export function isEnding(socket: net.Socket): boolean {
  return queues.get(socket)?.endQueued ?? false;
}

/** A transfer owns or waits for this socket's output. */
export function hasQueue(socket: net.Socket): boolean {
  return queues.has(socket);
}

/** Node holds nothing more for the socket: its writable buffer and libuv's queue are empty. */
export function isFlushed(socket: net.Socket): boolean {
  const handle = (socket as unknown as { _handle?: { writeQueueSize?: number } })._handle;
  const nodeHeld = classGetter(socket, 'writableLength').call(socket); // not counting what our queue holds
  return !socket.connecting && nodeHeld === 0 && (handle?.writeQueueSize ?? 0) === 0;
}

/** Resolves once the socket is flushed. */
function flushed(socket: net.Socket, io: SocketIo): Promise<void> {
  if (isFlushed(socket)) return Promise.resolve();
  // Writes complete in order: the callback of an empty write runs once everything before it has gone out.
  return new Promise((resolve, reject) => {
    io.write(EMPTY, (err) => (err ? reject(err) : resolve()));
  });
}
