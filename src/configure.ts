// Process-wide settings, taken before their first use.
import { binding } from './binding';
import { outOfRange, validateOptions } from './errors';

export interface ConfigureOptions {
  /** Engine threads (default 2); only before the first transfer that uses the engine. */
  engineThreads?: number;
  /** The real-time signal for lease breaks (default SIGRTMIN+4); only before the first lease. */
  leaseSignal?: number;
}

const started = () => Object.assign(new Error('configure() must come before the first use of what it sets'),
  { code: 'ERR_ZEROCOPY_STARTED' });

export function configure(options: ConfigureOptions): void {
  const opts = validateOptions<ConfigureOptions>(options);
  if (opts.engineThreads !== undefined) {
    const n = opts.engineThreads;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 64) {
      throw outOfRange('options.engineThreads', 'an integer >= 1 && <= 64', n);
    }
    if (binding && !binding.configure(n)) throw started();
  }
  if (opts.leaseSignal !== undefined && binding) {
    const base = binding.leaseSignalBase;
    const sig = opts.leaseSignal;
    if (typeof sig !== 'number' || !Number.isInteger(sig) || sig < base || sig > base + 30) {
      throw outOfRange('options.leaseSignal', `a real-time signal, >= ${base} && <= ${base + 30}`, sig);
    }
    if (!binding.configureLeaseSignal(sig - base)) throw started();
    leaseSignal = sig;
  }
}

let leaseSignal: number | undefined;

export const constants = Object.freeze({
  /** The real-time signal used with F_SETSIG for lease breaks (SIGRTMIN+4 unless configured). */
  get RT_SIGNAL_LEASE(): number | undefined {
    return leaseSignal ?? (binding ? binding.leaseSignalBase + binding.constants.leaseSignalOffset : undefined);
  },
});
