// Process-wide settings, taken before their first use (the strategy and calibration: at any time, for the
// transfers that start after).
import { outOfRange, validateOptions } from './errors';
import {
  type Calibration,
  type StrategyOption,
  constants as seamConstants,
  kernel,
  readCalibration,
  useCalibration,
  useStrategy,
  validateStrategy,
} from './seam';

export interface ConfigureOptions {
  /** Engine threads (default 2); only before the first transfer that uses the engine. */
  engineThreads?: number;
  /** The real-time signal for lease breaks (default SIGRTMIN+4); only before the first lease. */
  leaseSignal?: number;
  /** The strategy of transfers that name none (default 'auto'). */
  strategy?: StrategyOption;
  /**
   * The rules 'auto' chooses by, as measured by `npm run bench -- --calibrate`: a path to its JSON, or the
   * parsed object. Its rules replace the defaults for the destinations they name.
   */
  calibration?: string | Calibration;
}

const started = () => Object.assign(new Error('configure() must come before the first use of what it sets'),
  { code: 'ERR_ZEROCOPY_STARTED' });

export function configure(options: ConfigureOptions): void {
  const opts = validateOptions<ConfigureOptions>(options);
  // Everything is checked before anything is applied: a bad option changes nothing.
  const strategy = validateStrategy(opts.strategy, 'options.strategy');
  const calibration = opts.calibration === undefined ? undefined : readCalibration(opts.calibration, 'options.calibration');
  const n = opts.engineThreads;
  if (n !== undefined && (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 64)) {
    throw outOfRange('options.engineThreads', 'an integer >= 1 && <= 64', n);
  }
  const base = kernel.leaseSignalBase;
  const sig = base === undefined ? undefined : opts.leaseSignal;
  if (sig !== undefined && (typeof sig !== 'number' || !Number.isInteger(sig) || sig < base! || sig > base! + 30)) {
    throw outOfRange('options.leaseSignal', `a real-time signal, >= ${base} && <= ${base! + 30}`, sig);
  }
  if (n !== undefined && !kernel.configure(n)) throw started();
  if (sig !== undefined) {
    if (!kernel.configureLeaseSignal(sig - base!)) throw started();
    leaseSignal = sig;
  }
  if (strategy !== undefined) useStrategy(strategy);
  if (calibration !== undefined) useCalibration(calibration);
}

let leaseSignal: number | undefined;

export const constants = Object.freeze({
  /** The real-time signal used with F_SETSIG for lease breaks (SIGRTMIN+4 unless configured). */
  get RT_SIGNAL_LEASE(): number | undefined {
    const base = kernel.leaseSignalBase;
    return leaseSignal ?? (base === undefined ? undefined : base + seamConstants.leaseSignalOffset);
  },
});
