// Counters since the process started: how much really went zero-copy, and why not where it did not.
import { kernel } from './seam';
// Straight from the leaf module: the seam's own modules count bytes here, so './seam' may still be loading.
import { type FallbackReason, STRATEGIES, type Strategy } from './seam/reasons';

export interface Stats {
  /** Bytes moved by sendfile / splice / copy_file_range inside the kernel. */
  zeroCopyBytes: number;
  /** Bytes moved by read/write instead, natively after a refusal or in JavaScript. */
  fallbackBytes: number;
  /** Transfers that fell back, by reason ('tls', 'no-binding', 'not-regular-file', 'sendfile-refused', ...). */
  fallbacks: Partial<Record<FallbackReason, number>>;
  /** sendFile and serveFile transfers, by the strategy that moved their bytes. */
  strategies: Record<Strategy, number>;
  /** Transfers in flight right now. */
  activeTransfers: number;
  /** Transfer syscalls made by the fast path and the engine. */
  syscalls: number;
  /** Times a transfer waited for a socket to take more (EAGAIN). */
  eagainWaits: number;
  engineThreads: number;
  /** Empty pipes the engine keeps for reuse (two fds each; at most 64 pipes). */
  pooledPipes: number;
}

const fallbacks: Partial<Record<FallbackReason, number>> = {};
const strategies = Object.fromEntries(STRATEGIES.map((s) => [s, 0])) as Record<Strategy, number>;
let jsFallbackBytes = 0;
let active = 0;

/** A transfer fell back for `reason`. */
export function countFallback(reason: FallbackReason): void {
  fallbacks[reason] = (fallbacks[reason] ?? 0) + 1;
}

/** A sendFile or serveFile transfer completed by `strategy` (and fell back, when `fallbackReason`). */
export function countTransfer(strategy: Strategy, fallbackReason?: FallbackReason): void {
  strategies[strategy]++;
  if (fallbackReason) countFallback(fallbackReason);
}

/** Bytes moved by a JavaScript read/write loop. */
export function countFallbackBytes(bytes: number): void {
  jsFallbackBytes += bytes;
}

/** Wraps a transfer so that it counts as active while it runs. */
export async function tracked<T>(run: () => Promise<T>): Promise<T> {
  active++;
  try {
    return await run();
  } finally {
    active--;
  }
}

export function stats(): Stats {
  const engine = kernel.engineStats();
  return {
    zeroCopyBytes: engine.zeroCopyBytes,
    fallbackBytes: engine.fallbackBytes + jsFallbackBytes,
    fallbacks: { ...fallbacks },
    strategies: { ...strategies },
    activeTransfers: active,
    syscalls: engine.syscalls,
    eagainWaits: engine.eagainWaits,
    engineThreads: engine.engineThreads,
    pooledPipes: engine.pooledPipes,
  };
}
