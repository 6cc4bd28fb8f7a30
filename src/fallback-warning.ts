// The first transfer that falls back because the addon is missing says so once, as a process warning that
// names the cause and the fix (capabilities().reason), unless the fallback was forced on purpose.
import { binding, fallbackForced, unavailableReason } from './binding';

let warned = false;

export function warnNoBinding(): void {
  if (warned || binding || fallbackForced) return;
  warned = true;
  process.emitWarning(`zerocopy is not zero-copy in this process: ${unavailableReason}`, { code: 'ZEROCOPY_FALLBACK' });
}
