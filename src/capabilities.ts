// What this process really has: which zero-copy paths the kernel serves, and why not where it does not.
import { kernel } from './seam';

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
  const { reasons, ...paths } = kernel.capabilities();
  const result: Capabilities = { native: kernel.native, platform: process.platform, ...paths };
  if (kernel.unavailableReason !== undefined) result.reason = kernel.unavailableReason;
  if (Object.keys(reasons).length > 0) result.reasons = reasons;
  return result;
}
