// The rules 'auto' follows until configure({ calibration }) loads measured ones: per destination, the strategy
// from a size up (the rule with the largest minBytes <= the transfer's length wins).
// Measured 2026-11-29 on this 2-core machine while other work ran (load 4-6, so ±50% and more), sendFile per
// forced strategy to a receiver process on 127.0.0.1, 5-7 interleaved rounds (/tmp/seamjs/measure.mjs, see the
// seam-js report): 64 KiB ×256 sendfile 0.32 GB/s, copy 0.36, splice 0.07, mmap 0.03 (a mapping per request costs
// more than it saves); 1 MiB ×64 sendfile 1.14, copy 1.57, splice 0.93, mmap 0.93; 64 MiB sendfile 0.32, copy
// 0.35, mmap 0.36, splice 0.27. Copying beat sendfile to a loopback peer at 1 MiB, but not by more than the
// noise at other sizes: sendfile stays the default (and 'zeroCopy' results stay what they were) until
// `npm run bench -- --calibrate` on a quiet machine says otherwise. TLS copies in user space whatever is chosen.
import type { Rule } from './calibration';

export const DEFAULT_RULES: readonly Rule[] = [
  { destination: 'local-tcp', minBytes: 0, strategy: 'sendfile' },
  { destination: 'remote-tcp', minBytes: 0, strategy: 'sendfile' },
  { destination: 'unix', minBytes: 0, strategy: 'sendfile' },
  { destination: 'tls', minBytes: 0, strategy: 'copy' },
  { destination: 'pipe', minBytes: 0, strategy: 'sendfile' },
  { destination: 'file', minBytes: 0, strategy: 'sendfile' },
];
