// A case that cannot run on this machine (no C compiler, a strategy this build does not offer, a server that
// failed its requests): thrown by a case's setup or run, and printed and recorded as skipped with its reason,
// never as a 0, NaN or Infinity figure.
import { capabilities } from 'zerocopy';

export class Skipped extends Error {}

/** Why file leases cannot be taken here (no native addon, or a kernel that refuses them), or undefined. */
export function whyNoLeases() {
  const caps = capabilities();
  return caps.leases ? undefined : `file leases are not available here: ${caps.reasons?.leases ?? caps.reason}`;
}
