// The closed vocabularies of the seam: how bytes move (Strategy), where they go (Destination), and why a
// transfer moved them the way it did (Reason). Every result, stats() counter and the native refusals table
// speak these words, and nothing else.

/** How a transfer moves bytes. 'copy' (read + write) is the only one without the native addon. */
export type Strategy = 'sendfile' | 'splice' | 'mmap' | 'copy';

/** What a caller may ask for: a strategy, or 'auto' (chosen by destination and size). */
export type StrategyOption = 'auto' | Strategy;

export const STRATEGIES: readonly Strategy[] = ['sendfile', 'splice', 'mmap', 'copy'];

/** Where the bytes go, as 'auto' tells them apart. */
export type Destination = 'local-tcp' | 'remote-tcp' | 'unix' | 'tls' | 'pipe' | 'file';

export const DESTINATIONS: readonly Destination[] = ['local-tcp', 'remote-tcp', 'unix', 'tls', 'pipe', 'file'];

/**
 * Why bytes went through read/write ('copy') rather than the strategy chosen, or, for a lease, why a strategy
 * whose bytes are copies was needed:
 * - 'no-binding': the native addon is not loaded (only 'copy' exists);
 * - 'tls': the socket encrypts in user space; 'http2': Node's HTTP/2 stream writes the body;
 * - 'no-fd': the socket has no file descriptor (a stream wrapper); 'no-socket': an HTTP response with no socket
 *   beneath it (fastify.inject, a mocked response); 'response-patched' / 'response-reframed': a middleware took
 *   over res.write / res.end or changed the framing at writeHead (compression), so the body goes through them;
 * - 'no-body': sendFile(res) for a HEAD request or a status without a body (1xx, 204, 304): nothing is sent; 'not-regular-file': the input is a pipe or a
 *   device, read as it comes;
 * - '<syscall>-refused': the kernel refused that call for these fds (the native refusals table);
 * - 'lease-copy': a leased transfer to a peer on this host, a pipe or a file must hand over copies;
 * - 'small-file': serveFile wrote a small body with its headers.
 */
export const FALLBACK_REASONS = [
  'no-binding',
  'tls',
  'http2',
  'no-fd',
  'no-socket',
  'response-patched',
  'response-reframed',
  'no-body',
  'not-regular-file',
  'sendfile-refused',
  'splice-refused',
  'mmap-refused',
  'copy_file_range-refused',
  'lease-copy',
  'small-file',
] as const;

export type FallbackReason = (typeof FALLBACK_REASONS)[number];

/**
 * Why a transfer used its strategy: 'forced' (asked for by the call or by configure()), 'auto:<destination>'
 * ('auto' chose it by destination and size), or a fallback reason.
 */
export type Reason = 'forced' | `auto:${Destination}` | FallbackReason;

/** The strategy a transfer used and why: every SendResult and ServeResult carries both. */
export interface Choice {
  strategy: Strategy;
  reason: Reason;
}
