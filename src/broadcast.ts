// broadcast: one source socket fanned out to many sinks with tee(2), so the data never enters user space. A sink
// that falls more than `maxLag` bytes behind is dropped instead of stalling the others; sinks may be added and
// removed while it runs; when the source ends, every live sink gets all the data and is then ended.
import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import {
  INTERNAL,
  abortError,
  illegalConstructor,
  invalidArgType,
  outOfRange,
  validateLength,
  validateOptions,
  validateSignal,
} from './errors';
import { type FallbackReason, type SinkNotice, kernel, streamReason } from './seam';
import { enqueueTransfer } from './socket-queue';
import { readRefusal, socketFd, writeRefusal, writeThrough } from './sockets';
import { takeInput } from './socket-reading';
import { countFallback, countFallbackBytes } from './stats';

export interface BroadcastOptions {
  /**
   * A sink that trails the sink that has received the most by more than this is dropped; so is one that holds
   * the others back for more than a second (a sink that stopped reading). Default 16 MiB: socket buffers alone
   * differ by megabytes between connections.
   */
  maxLag?: number;
  /**
   * Capacity of the source pipe and of each of the 4 pipes in a sink's ring. Default 64 KiB. Pipe memory counts
   * against /proc/sys/fs/pipe-user-pages-soft (64 MiB per user by default).
   */
  pipeSize?: number;
  signal?: AbortSignal;
}

export interface BroadcastResult {
  /** Bytes read from the source. */
  bytes: number;
  /** Bytes each sink received (dropped and removed sinks included). */
  sinks: Map<net.Socket, number>;
  dropped: net.Socket[];
}

const DEFAULT_MAX_LAG = 16 << 20;
// The fallback's backpressure: a sink holding more than this pauses the source, for at most MAX_STALL_MS.
const HIGH_WATER = 1 << 20;
const MAX_STALL_MS = 1000;
const DEFAULT_PIPE_SIZE = 64 << 10;

interface SinkState {
  socket: net.Socket;
  id?: number;
  bytes: number;
  leave?: () => void;
  left: boolean;
}

/** The handle of a running broadcast: an EventEmitter with 'drop' (sink, bytes, error?) events. */
export class Broadcast extends EventEmitter {
  /** Resolves when the source has ended and every live sink has all the data (and has been ended). */
  readonly done: Promise<BroadcastResult>;
  readonly #sinks = new Map<net.Socket, SinkState>();
  readonly #dropped: net.Socket[] = [];
  readonly #impl: { add(s: SinkState): void; remove(s: SinkState): void; close(): void };
  #received = 0;

  /** @internal */
  constructor(token: typeof INTERNAL, source: net.Socket, sinks: net.Socket[], maxLag: number, pipeSize: number,
    signal?: AbortSignal) {
    if (token !== INTERNAL) throw illegalConstructor('Broadcast', 'broadcast()');
    super();
    const reason = streamReason(source, ...sinks);
    let impl;
    [impl, this.done] = reason
      ? this.#streams(source, maxLag, signal, reason)
      : this.#native(source, maxLag, pipeSize, signal);
    this.#impl = impl;
    for (const sink of sinks) this.add(sink);
  }

  /** Adds a sink; it receives what the source sends from now on. */
  add(sink: net.Socket): void {
    if (!(sink instanceof net.Socket)) throw invalidArgType('sink', 'an instance of net.Socket', sink);
    if (this.#sinks.has(sink)) return;
    const refusal = writeRefusal(sink);
    if (refusal) throw refusal;
    const state: SinkState = { socket: sink, bytes: 0, left: false };
    this.#sinks.set(sink, state);
    this.#impl.add(state);
  }

  /** Stops sending to a sink and leaves it open and usable. */
  remove(sink: net.Socket): void {
    const state = this.#sinks.get(sink);
    if (state && !state.left) this.#impl.remove(state);
  }

  /** Stops the broadcast now: live sinks are ended; `done` resolves with the counts so far. */
  close(): void {
    this.#impl.close();
  }

  /** Bytes a sink has received, as of its last event (exact once it has left or the broadcast is done). */
  bytes(sink: net.Socket): number {
    return this.#sinks.get(sink)?.bytes ?? 0;
  }

  #result(): BroadcastResult {
    return {
      bytes: this.#received,
      sinks: new Map([...this.#sinks].map(([s, st]) => [s, st.bytes])),
      dropped: [...this.#dropped],
    };
  }

  #drop(state: SinkState, error?: Error | null): void {
    this.#dropped.push(state.socket);
    state.socket.destroy();
    this.emit('drop', state.socket, state.bytes, error ?? undefined);
  }

  #native(source: net.Socket, maxLag: number, pipeSize: number, signal?: AbortSignal) {
    const input = takeInput(source);
    this.#received = input.bufferedBytes;
    const byId = new Map<number, SinkState>();
    const onNotice = (n: SinkNotice) => {
      const state = byId.get(n.sinkId);
      if (!state) return;
      state.bytes += n.bytes;
      state.left = true;
      state.leave?.();
      if (n.notice === 'sink-drop' || n.notice === 'sink-error') this.#drop(state, n.error);
      else if (n.notice === 'sink-done') state.socket.end();
    };
    // Each sink's output is held (its queue flushed first) for as long as it takes part.
    const hold = (state: SinkState, first: Buffer[]) => new Promise<void>((ready) => {
      enqueueTransfer(state.socket, async (io) => {
        // end() may have been queued behind an earlier transfer after this sink joined: it gets nothing more.
        const refusal = writeRefusal(state.socket, true);
        if (refusal) throw refusal;
        await writeThrough(io, first);
        state.bytes = first.reduce((n, c) => n + c.length, 0);
        ready();
        if (!state.left) await new Promise<void>((resolve) => (state.leave = resolve));
      }).catch((err) => {
        state.left = true;
        ready();
        this.#drop(state, err);
      });
    });
    // The sinks given at the start get what Node had already buffered, and join before the source is read.
    const initial: SinkState[] = [];
    const readies: Promise<void>[] = [];
    let jobId: number | undefined;
    let closing = false;
    const started = Promise.resolve().then(() => Promise.all(readies)).then(() => {
      const live = initial.filter((st) => !st.left);
      const fd = socketFd(source)!;
      const job = kernel.broadcast({
        inFd: fd, signal, pipeSize, maxLag, onNotice, sinkFds: live.map((st) => socketFd(st.socket)!),
      });
      live.forEach((st, i) => {
        st.id = i + 1; // the engine numbers initial sinks from 1, in order
        byId.set(st.id, st);
      });
      jobId = job.id;
      if (closing) kernel.cancel(job.id);
      return job.done;
    });
    const impl = {
      add: (state: SinkState) => {
        if (jobId === undefined) {
          initial.push(state);
          readies.push(hold(state, input.buffered));
          return;
        }
        void hold(state, []).then(() => {
          if (state.left) return;
          const id = kernel.addSink(jobId!, socketFd(state.socket)!);
          byId.set(id, state);
          state.id = id;
        });
      },
      remove: (state: SinkState) => {
        if (state.id === undefined || jobId === undefined) {
          state.left = true;
          state.leave?.();
        } else {
          kernel.removeSink(jobId, state.id);
        }
      },
      close: () => {
        closing = true;
        if (jobId !== undefined) kernel.cancel(jobId);
      },
    };
    const done = started.then((result) => {
      this.#received = input.bufferedBytes + result.bytes;
      for (const state of this.#sinks.values()) {
        if (state.left) continue;
        state.left = true;
        state.leave?.();
        state.socket.end();
      }
      input.ended();
      if (result.error?.code === 'ECANCELED' && signal?.aborted) {
        throw Object.assign(abortError(this.#received, signal), this.#result());
      }
      if (result.error && result.error.code !== 'ECANCELED') throw Object.assign(result.error, this.#result());
      return this.#result();
    });
    return [impl, done] as const;
  }

  /** The fallback: Node reads the source and writes every sink; a sink holding more than maxLag is dropped. */
  #streams(source: net.Socket, maxLag: number, signal: AbortSignal | undefined, reason: FallbackReason) {
    countFallback(reason);
    let finish!: (err?: Error) => void;
    const done = new Promise<BroadcastResult>((resolve, reject) => {
      finish = (err) => (err ? reject(Object.assign(err, this.#result())) : resolve(this.#result()));
    });
    let ended = false;
    const live = () => [...this.#sinks.values()].filter((s) => !s.left);
    const drop = (state: SinkState, error?: Error) => {
      state.left = true;
      this.#drop(state, error);
    };
    // Backpressure: the source waits while a sink holds more than HIGH_WATER; a sink that trails the least
    // loaded by more than maxLag, or keeps the others waiting for more than a second, is dropped.
    let waiting: NodeJS.Timeout | undefined;
    const wait = () => {
      const full = live().filter((st) => st.socket.writableLength > HIGH_WATER);
      if (full.length === 0) return;
      source.pause();
      let pending = full.length;
      const resume = () => {
        if (--pending > 0 || ended) return;
        clearTimeout(waiting);
        source.resume();
      };
      for (const st of full) st.socket.once('drain', resume);
      waiting = setTimeout(() => {
        for (const st of full) {
          if (!st.left && st.socket.writableLength > HIGH_WATER) {
            st.socket.removeListener('drain', resume);
            drop(st);
          }
        }
        if (!ended) source.resume();
      }, MAX_STALL_MS);
    };
    const onData = (chunk: Buffer) => {
      this.#received += chunk.length;
      const sinks = live();
      const least = Math.min(...sinks.map((st) => st.socket.writableLength));
      for (const state of sinks) {
        const refusal = writeRefusal(state.socket); // ended (or ending) since it joined: no byte more
        if (refusal || state.socket.writableLength - least > maxLag) {
          drop(state, refusal);
          continue;
        }
        state.socket.write(chunk);
        state.bytes += chunk.length;
        countFallbackBytes(chunk.length);
      }
      wait();
    };
    const end = (err?: Error) => {
      if (ended) return;
      ended = true;
      clearTimeout(waiting);
      source.removeListener('data', onData);
      signal?.removeEventListener('abort', onAbort);
      for (const state of live()) {
        state.left = true;
        state.socket.end();
      }
      finish(err);
    };
    const onAbort = () => end(abortError(this.#received, signal));
    source.on('data', onData);
    source.once('end', () => end());
    source.once('error', (err) => end(err));
    signal?.addEventListener('abort', onAbort, { once: true });
    const impl = {
      add: (state: SinkState) => {
        state.socket.on('error', () => {});
      },
      remove: (state: SinkState) => {
        state.left = true;
      },
      close: () => end(),
    };
    return [impl, done] as const;
  }
}

export function broadcast(source: net.Socket, sinks: net.Socket[], options?: BroadcastOptions): Broadcast {
  if (!(source instanceof net.Socket)) throw invalidArgType('source', 'an instance of net.Socket', source);
  if (!Array.isArray(sinks)) throw invalidArgType('sinks', 'an array of net.Socket', sinks);
  sinks.forEach((s, i) => {
    if (!(s instanceof net.Socket)) throw invalidArgType(`sinks[${i}]`, 'an instance of net.Socket', s);
  });
  const refusal = readRefusal(source) ?? sinks.map((s) => writeRefusal(s)).find(Boolean);
  if (refusal) throw refusal;
  const opts = validateOptions<BroadcastOptions>(options);
  const maxLag = opts.maxLag === undefined ? DEFAULT_MAX_LAG : validateLength(opts.maxLag, 'options.maxLag');
  let pipeSize = DEFAULT_PIPE_SIZE;
  if (opts.pipeSize !== undefined) {
    pipeSize = validateLength(opts.pipeSize, 'options.pipeSize');
    if (pipeSize < 4096 || pipeSize > 2 ** 31 - 1) throw outOfRange('options.pipeSize', '>= 4096 && <= 2147483647', pipeSize);
  }
  return new Broadcast(INTERNAL, source, sinks, maxLag, pipeSize, validateSignal(opts.signal));
}
