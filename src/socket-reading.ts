// Taking a socket's input away from Node before the engine splices from it: libuv must stop reading, and the
// bytes Node had already read go first. Node's net.Socket restarts reading from _read() whenever its handle is
// not marked as reading, so the mark stays set while the engine owns the input.
import type * as net from 'node:net';

interface Handle {
  reading?: boolean;
  readStop?(): number;
  readStart?(): number;
}

export interface TakenInput {
  /** What Node had read and not yet delivered, in order. */
  buffered: Buffer[];
  bufferedBytes: number;
  /** Gives reading back to Node, after `unread` (bytes read past what the caller wanted) is put back first. */
  giveBack(unread?: Buffer): void;
  /** The engine reached the end of the input: tell Node, which then ends the readable side as usual. */
  ended(): void;
}

export function takeInput(socket: net.Socket): TakenInput {
  const flowing = socket.readableFlowing;
  socket.pause();
  const handle = (socket as unknown as { _handle?: Handle })._handle;
  if (handle?.reading) handle.readStop?.();
  if (handle) handle.reading = true;
  const buffered: Buffer[] = [];
  let bufferedBytes = 0;
  for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) {
    buffered.push(chunk);
    bufferedBytes += chunk.length;
  }
  return {
    buffered,
    bufferedBytes,
    giveBack(unread) {
      if (socket.destroyed) return; // closed under the transfer: nobody can read it again
      if (unread && unread.length > 0) socket.unshift(unread);
      restoreFlowing(socket, flowing);
      // Node's stream may still count a read as pending from before we stopped the handle, and would never
      // ask again: start the handle here. Node stops it again itself if nobody consumes (backpressure).
      if (handle && !socket.destroyed) handle.readStart?.();
    },
    ended() {
      if (handle) handle.reading = false;
      socket.push(null);
      restoreFlowing(socket, flowing);
    },
  };
}

/**
 * Puts the socket back in the mode it had: flowing, paused, or neither yet (then a later 'data' listener
 * starts the flow, which an explicit pause() would prevent).
 */
export function restoreFlowing(socket: net.Socket, flowing: boolean | null): void {
  if (flowing === true) {
    socket.resume();
    return;
  }
  if (flowing === null) (socket as unknown as { _readableState: { flowing: boolean | null } })._readableState.flowing = null;
  socket.read(0);
}
