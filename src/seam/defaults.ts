// The rules 'auto' follows until configure({ calibration }) loads measured ones: per destination, the strategy
// from a size up (the rule with the largest minBytes <= the transfer's length wins).
// Measured 2026-11-29 on this 2-core machine with nothing else running (`npm run bench -- --only file-to-socket
// --runs 5`, three runs; sendFile forced to each strategy and the C sender's methods interleaved round by round),
// to a receiving process on 127.0.0.1, as a ratio to the fastest C method of the same run:
// - 1 MiB x64: copy 0.96-0.97 (C read+write was fastest), sendfile 0.47-0.62, mmap 0.54-0.56, splice 0.40-0.49;
// - 64 MiB: mmap 0.87-1.15 (C mmap+write fastest), copy 0.60-0.81, sendfile 0.52-0.76, splice 0.52-0.74;
// - 256 MiB: mmap 0.78-0.92, copy 0.60-0.63, sendfile 0.40-0.51, splice 0.34-0.47.
// From 64 MiB mmap+write is the default to a peer on this host (it copies what it receives anyway). Copy won at
// 1 MiB too, but is not the default there: it would make every default send of a mid-sized file to a local peer a
// user-space copy, for a gain this one machine measured; `npm run bench -- --calibrate` writes it where it holds.
// Below that a page-cached file goes out in one sendfile on the JS thread, cheaper per file than anything else.
// The other destinations keep sendfile until `npm run bench -- --calibrate` on the user's machine says otherwise;
// TLS copies in user space whatever is chosen.
import type { Rule } from './calibration';
import type { Destination } from './reasons';

export const DEFAULT_RULES: readonly Rule[] = [
  { destination: 'local-tcp', minBytes: 0, strategy: 'sendfile' },
  { destination: 'local-tcp', minBytes: 64 << 20, strategy: 'mmap' },
  { destination: 'remote-tcp', minBytes: 0, strategy: 'sendfile' },
  { destination: 'unix', minBytes: 0, strategy: 'sendfile' },
  { destination: 'tls', minBytes: 0, strategy: 'copy' },
  { destination: 'pipe', minBytes: 0, strategy: 'sendfile' },
  { destination: 'file', minBytes: 0, strategy: 'sendfile' },
];

// A file the open-file cache keeps is mapped once, whole (native/kept_map.h): a write from that map costs what a
// server holding the file in RAM pays, one copy into the socket, with no mmap or munmap per response. To a peer on
// this host that beat sendfile at every size (`npm run bench -- --only http`: the kept file by sendfile 0.38-0.46x
// the requests/s of `res.end(cachedBuffer)` up to 1 MiB, nginx's sendfile 791 us per 1 MiB response against the
// buffer server's 268), so 'auto' writes from the map there, whatever the rules say for unkept files.
export const MAPPED_DESTINATIONS: readonly Destination[] = ['local-tcp'];
