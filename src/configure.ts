// Process-wide settings, taken before their first use.
import { binding } from './binding';
import { outOfRange, validateOptions } from './errors';

export interface ConfigureOptions {
  /** Engine threads (default 2); only before the first transfer that uses the engine. */
  engineThreads?: number;
}

export function configure(options: ConfigureOptions): void {
  const opts = validateOptions<ConfigureOptions>(options);
  if (opts.engineThreads !== undefined) {
    const n = opts.engineThreads;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 64) {
      throw outOfRange('options.engineThreads', 'an integer >= 1 && <= 64', n);
    }
    if (binding && !binding.configure(n)) {
      throw Object.assign(new Error('configure({ engineThreads }) must come before the first transfer'),
        { code: 'ERR_ZEROCOPY_STARTED' });
    }
  }
}
