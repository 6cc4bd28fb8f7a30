// One static-file server for the HTTP scenario, in its own process so that its CPU is its own:
//   http-server.mjs <buffer|serveFile|serveFile-small|stream|send> <root>
// Prints the port it listens on (127.0.0.1).
import { createReadStream } from 'node:fs';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import send from 'send';
import { serveFile } from 'zerocopy';

const [method, root] = process.argv.slice(2);

/** Every file directly under `root`, read into memory once, by URL path. */
function cached() {
  const files = new Map(fs.readdirSync(root).filter((name) => fs.statSync(path.join(root, name)).isFile())
    .map((name) => [`/${name}`, fs.readFileSync(path.join(root, name))]));
  return (req, res) => {
    const body = files.get(req.url);
    if (!body) {
      res.writeHead(404, { 'Content-Length': 0 }).end();
      return;
    }
    res.writeHead(200, { 'Content-Length': body.length, 'Content-Type': 'application/octet-stream' }).end(body);
  };
}

// The client going away (load.c drops its connections at the deadline) is no server error.
const CLIENT_GONE = new Set(['ECONNRESET', 'EPIPE', 'ERR_STREAM_PREMATURE_CLOSE']);
const said = new Set();
/** Said on stderr once per code: a server that fails every request would flood it. */
function say(req, err) {
  if (said.has(err.code)) return;
  said.add(err.code);
  console.error(`http-server ${method}: ${req.url}: ${err.code ?? 'no code'}: ${err.stack ?? err}`);
}

/**
 * A server error must not pass for a slow answer: one serveFile reports (its result's `error`: a response it cut
 * short, or a 500) or a rejection is said on stderr, and the connection is dropped (serveFile already did for the
 * former), so that the load generator counts an error too.
 */
const surfaced = (serve) => (req, res) => serve(req, res).then((result) => {
  if (result.error && !CLIENT_GONE.has(result.error.code)) say(req, result.error);
}, (err) => {
  say(req, err);
  res.destroy();
});

const handlers = {
  // The floor of Node's own HTTP machinery: files held in memory, each answer one res.end(cachedBuffer).
  buffer: cached,
  serveFile: () => surfaced((req, res) => serveFile(req, res, req.url, { root })),
  // Every body read into memory and written with the headers: where sendfile stops paying off.
  'serveFile-small': () => surfaced((req, res) => serveFile(req, res, req.url, { root, smallFileThreshold: 1 << 20 })),
  // What most hand-written Node servers do.
  stream: () => (req, res) => {
    const file = path.join(root, path.normalize(decodeURIComponent(req.url)));
    fs.stat(file, (err, st) => {
      if (err) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'Content-Length': st.size, 'Content-Type': 'application/octet-stream' });
      createReadStream(file).pipe(res);
    });
  },
  send: () => (req, res) => send(req, req.url, { root }).pipe(res),
};

if (!handlers[method]) {
  console.error(`unknown method ${method}`);
  process.exit(2);
}
const server = http.createServer(handlers[method]());
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
process.on('SIGTERM', () => process.exit(0));
