// A socket that has ended, is ending, or was destroyed gets nothing from any transfer: each call refuses it with
// the code and message Node's own socket.write() gives in that state, and the peer receives no byte after the
// end. Native and forced fallback (the vitest projects).
import * as fs from 'node:fs';
import * as net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { broadcast, proxy, receiveFile, sendFile } from '../src/index';
import { randomFile, sha256, tempDir } from './helpers';

const dir = tempDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const { file } = randomFile(dir, 8 << 20, 'eight-mib');

interface Connection {
  ours: net.Socket;
  /** The other end. */
  peer: net.Socket;
  /** Everything the peer received, once its side has closed. */
  received: Promise<Buffer>;
  close(): void;
}

async function connection(): Promise<Connection> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  const ours = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await new Promise((resolve) => ours.once('connect', resolve));
  const peer = await accepted;
  server.close();
  ours.on('error', () => {});
  const chunks: Buffer[] = [];
  peer.on('data', (c: Buffer) => chunks.push(c));
  peer.on('end', () => peer.end());
  peer.on('error', () => {});
  const received = new Promise<Buffer>((resolve) => peer.once('close', () => resolve(Buffer.concat(chunks))));
  return { ours, peer, received, close: () => (ours.destroy(), peer.destroy()) };
}

type State = 'ended' | 'ending' | 'destroyed';
const states: [State, string][] = [
  ['ended', 'ERR_STREAM_WRITE_AFTER_END'],
  ['ending', 'ERR_STREAM_WRITE_AFTER_END'],
  ['destroyed', 'ERR_STREAM_DESTROYED'],
];

/** Puts our side in `state`; the peer has then received 'bye' (or nothing, for destroyed). */
async function put(socket: net.Socket, state: State): Promise<void> {
  if (state === 'destroyed') {
    socket.destroy();
    return;
  }
  socket.end('bye');
  if (state === 'ended') await new Promise((resolve) => socket.once('finish', resolve));
}

/** What Node's own socket.write() gives in that state. */
async function nodeRefusal(state: State): Promise<{ code: string; message: string }> {
  const c = await connection();
  await put(c.ours, state);
  const err = await new Promise<NodeJS.ErrnoException>((resolve) => c.ours.write('x', (e) => resolve(e!)));
  c.close();
  return { code: err.code!, message: err.message };
}

const expectedBytes = (state: State) => (state === 'destroyed' ? '' : 'bye');

describe.each(states)('a socket that is %s', (state, code) => {
  it(`is refused by sendFile with ${code}, as socket.write() refuses it, and the peer gets no byte more`, async () => {
    const node = await nodeRefusal(state);
    expect(node.code).toBe(code);
    const c = await connection();
    await put(c.ours, state);
    await expect(sendFile(c.ours, file)).rejects.toMatchObject(node);
    c.ours.end();
    expect((await c.received).toString()).toBe(expectedBytes(state));
    c.close();
  });

  it(`is refused by proxy on either side with ${code}, and neither peer gets a byte`, async () => {
    const node = await nodeRefusal(state);
    for (const side of ['a', 'b'] as const) {
      const dead = await connection();
      const live = await connection();
      await put(dead.ours, state);
      const call = side === 'a' ? proxy(dead.ours, live.ours) : proxy(live.ours, dead.ours);
      await expect(call).rejects.toMatchObject(node);
      live.ours.end();
      dead.ours.end();
      expect((await live.received).length).toBe(0);
      expect((await dead.received).toString()).toBe(expectedBytes(state));
      dead.close();
      live.close();
    }
  });

  it(`is refused as a broadcast sink (given at the start or added later) with ${code}`, async () => {
    const node = await nodeRefusal(state);
    const source = await connection();
    const sink = await connection();
    await put(sink.ours, state);
    expect(() => broadcast(source.ours, [sink.ours])).toThrow(expect.objectContaining(node));
    const running = broadcast(source.ours, []);
    expect(() => running.add(sink.ours)).toThrow(expect.objectContaining(node));
    running.close();
    await running.done;
    sink.ours.end();
    expect((await sink.received).toString()).toBe(expectedBytes(state));
    source.close();
    sink.close();
  });
});

describe('a destroyed socket to read from', () => {
  it('is refused by receiveFile and as a broadcast source with ERR_STREAM_DESTROYED, instead of a silent 0 or a hang', async () => {
    const c = await connection();
    c.ours.destroy();
    const refused = { code: 'ERR_STREAM_DESTROYED', message: 'Cannot call read after a stream was destroyed' };
    await expect(receiveFile(c.ours, `${file}.received`, { length: 10 })).rejects.toMatchObject(refused);
    expect(fs.existsSync(`${file}.received`)).toBe(false);
    expect(() => broadcast(c.ours, [])).toThrow(expect.objectContaining(refused));
    c.close();
  });
});

describe('a socket ended while a sendFile waits in its queue', () => {
  it('gets the files sent before end() and refuses the one sent after it, byte-exact', async () => {
    const c = await connection();
    const first = sendFile(c.ours, file);
    c.ours.end(); // queued behind the first file
    const late = sendFile(c.ours, file).catch((err) => err); // refused at once: the socket is ending
    expect((await first).bytes).toBe(8 << 20);
    expect(await late).toMatchObject({ code: 'ERR_STREAM_WRITE_AFTER_END', message: 'write after end', bytes: 0 });
    expect(sha256(await c.received)).toBe(sha256(fs.readFileSync(file)));
    c.close();
  });

  it('refuses a relay into it (proxy, broadcast): the peer gets the file and nothing more', async () => {
    for (const relay of ['proxy', 'broadcast'] as const) {
      const c = await connection();
      const other = await connection(); // the relay's source: its peer sends a few bytes, then ends
      const first = sendFile(c.ours, file);
      c.ours.end(); // queued behind the file: the socket is ending
      other.peer.end('after the end');
      if (relay === 'proxy') {
        await expect(proxy(other.ours, c.ours)).rejects.toMatchObject({ code: 'ERR_STREAM_WRITE_AFTER_END' });
      } else {
        expect(() => broadcast(other.ours, [c.ours])).toThrow(expect.objectContaining({ code: 'ERR_STREAM_WRITE_AFTER_END' }));
      }
      expect((await first).bytes).toBe(8 << 20);
      expect(sha256(await c.received), relay).toBe(sha256(fs.readFileSync(file)));
      c.close();
      other.close();
    }
  });
});
