// What this process really has: which zero-copy paths the kernel serves, and why not where it does not.
import { binding, unavailableReason } from './binding';

export interface Capabilities {
  /** The native binding is loaded and in use. */
  native: boolean;
  platform: NodeJS.Platform;
  sendfile: boolean;
  splice: boolean;
  tee: boolean;
  vmsplice: boolean;
  copyFileRange: boolean;
  mmap: boolean;
  leases: boolean;
  /** Why the binding is not in use (read/write for every call), and how to fix it. */
  reason?: string;
  /** Per path, why it is unavailable while the binding is loaded (e.g. ENOSYS under a seccomp filter). */
  reasons?: Partial<Record<'sendfile' | 'splice' | 'tee' | 'vmsplice' | 'copyFileRange' | 'mmap' | 'leases', string>>;
}

let cached: Capabilities | undefined;

export function capabilities(): Capabilities {
  cached ??= probe();
  const copy = { ...cached };
  if (cached.reasons) copy.reasons = { ...cached.reasons };
  return copy;
}

function probe(): Capabilities {
  const platform = process.platform;
  if (!binding) {
    return {
      native: false, platform, sendfile: false, splice: false, tee: false, vmsplice: false,
      copyFileRange: false, mmap: false, leases: false, reason: unavailableReason,
    };
  }
  const { reasons, ...paths } = binding.capabilities();
  const result: Capabilities = { native: true, platform, ...paths };
  if (Object.keys(reasons).length > 0) result.reasons = reasons;
  return result;
}
