// The rules 'auto' follows until configure({ calibration }) loads measured ones: per destination, the strategy
// from a size up (the rule with the largest minBytes <= the transfer's length wins).
// Measured: none yet beyond the DESIGN.md table (file -> TCP 127.0.0.1, 2 cores, Linux 6.18): sendfile keeps
// today's behaviour everywhere it can; TLS and anything without the addon copy.
import type { Rule } from './calibration';

export const DEFAULT_RULES: readonly Rule[] = [
  { destination: 'local-tcp', minBytes: 0, strategy: 'sendfile' },
  { destination: 'remote-tcp', minBytes: 0, strategy: 'sendfile' },
  { destination: 'unix', minBytes: 0, strategy: 'sendfile' },
  { destination: 'tls', minBytes: 0, strategy: 'copy' },
  { destination: 'pipe', minBytes: 0, strategy: 'sendfile' },
  { destination: 'file', minBytes: 0, strategy: 'sendfile' },
];
