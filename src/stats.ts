// Counters since the process started: how much really went zero-copy, and why not where it did not.
import { binding } from './binding';
import { warnNoBinding } from './fallback-warning';

export interface Stats {
  /** Bytes moved by sendfile / splice / copy_file_range inside the kernel. */
  zeroCopyBytes: number;
  /** Bytes moved by read/write instead, natively after a refusal or in JavaScript. */
  fallbackBytes: number;
  /** Transfers that fell back, by reason ('tls', 'no-binding', 'not-regular-file', 'sendfile-refused', ...). */
  fallbacks: Record<string, number>;
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

const fallbacks: Record<string, number> = {};
let jsFallbackBytes = 0;
let active = 0;

/** A transfer fell back for `reason`. */
export function countFallback(reason: string): void {
  if (reason === 'no-binding') warnNoBinding();
  fallbacks[reason] = (fallbacks[reason] ?? 0) + 1;
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
  const native = binding?.engineStats();
  return {
    zeroCopyBytes: native?.zeroCopyBytes ?? 0,
    fallbackBytes: (native?.fallbackBytes ?? 0) + jsFallbackBytes,
    fallbacks: { ...fallbacks },
    activeTransfers: active,
    syscalls: native?.syscalls ?? 0,
    eagainWaits: native?.eagainWaits ?? 0,
    engineThreads: native?.engineThreads ?? 0,
    pooledPipes: native?.pooledPipes ?? 0,
  };
}
