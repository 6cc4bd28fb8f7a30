// The rules 'auto' chooses by: the defaults, or a calibration measured by `npm run bench -- --calibrate` and
// loaded with configure({ calibration }). Bad input is refused whole, with Node's ERR_INVALID_ARG_* codes.
import * as fs from 'node:fs';
import { invalidArgType, invalidArgValue, validateLength } from '../errors';
import { DEFAULT_RULES, MAPPED_DESTINATIONS } from './defaults';
import { type Choice, type Destination, DESTINATIONS, STRATEGIES, type Strategy, type StrategyOption } from './reasons';

/** From `minBytes` up, a transfer to `destination` uses `strategy` (unless a larger minBytes also applies). */
export interface Rule {
  destination: Destination;
  minBytes: number;
  strategy: Strategy;
}

/** The calibration file's shape (version 1). */
export interface Calibration {
  version: 1;
  /** When it was measured (ISO date). */
  measured: string;
  /** What it was measured on: `<cpu model>, <n> cpus, <kernel>`. */
  machine: string;
  rules: Rule[];
}

export function validateStrategy(value: unknown, name: string): StrategyOption | undefined {
  if (value === undefined || value === 'auto' || STRATEGIES.includes(value as Strategy)) {
    return value as StrategyOption | undefined;
  }
  throw invalidArgValue(name, value, "must be 'auto', 'sendfile', 'splice', 'mmap' or 'copy'");
}

/** A calibration given as a path to its JSON or as the parsed object, checked field by field. */
export function readCalibration(value: unknown, name: string): Calibration {
  if (typeof value === 'string') {
    const text = readSmallFile(value, name);
    try {
      return checkCalibration(JSON.parse(text), name);
    } catch (err) {
      if (err instanceof SyntaxError) throw invalidArgValue(name, value, `is not JSON (${err.message})`);
      throw err;
    }
  }
  return checkCalibration(value, name);
}

// A calibration file holds a few rules: anything larger is no calibration (and /dev/zero would never end).
const CALIBRATION_MAX_BYTES = 1 << 20;

/**
 * The text of a regular file of at most CALIBRATION_MAX_BYTES. Opened non-blocking, so that a FIFO without a
 * writer is refused instead of waiting in open(); ENOENT, EACCES, ... as fs says them, with the path.
 */
function readSmallFile(file: string, name: string): string {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw invalidArgValue(name, file, 'must name a regular file');
    if (st.size > CALIBRATION_MAX_BYTES) throw invalidArgValue(name, file, `is larger than ${CALIBRATION_MAX_BYTES} bytes`);
    return fs.readFileSync(fd, 'utf8');
  } finally {
    fs.closeSync(fd);
  }
}

function checkCalibration(value: unknown, name: string): Calibration {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidArgType(name, 'a path (string) or a calibration object', value);
  }
  const c = value as Partial<Calibration>;
  if (c.version !== 1) throw invalidArgValue(`${name}.version`, c.version, 'must be 1');
  if (typeof c.measured !== 'string') throw invalidArgType(`${name}.measured`, 'of type string', c.measured);
  if (typeof c.machine !== 'string') throw invalidArgType(`${name}.machine`, 'of type string', c.machine);
  if (!Array.isArray(c.rules)) throw invalidArgType(`${name}.rules`, 'an array', c.rules);
  // Array.from visits holes too (as undefined), which map would skip.
  const rules = Array.from(c.rules as unknown[], (r, i) => {
    const at = `${name}.rules[${i}]`;
    if (typeof r !== 'object' || r === null) throw invalidArgType(at, 'an object', r);
    const rule = r as Partial<Rule>;
    if (!DESTINATIONS.includes(rule.destination as Destination)) {
      throw invalidArgValue(`${at}.destination`, rule.destination, `must be one of ${DESTINATIONS.join(', ')}`);
    }
    validateLength(rule.minBytes, `${at}.minBytes`);
    if (!STRATEGIES.includes(rule.strategy as Strategy)) {
      throw invalidArgValue(`${at}.strategy`, rule.strategy, `must be one of ${STRATEGIES.join(', ')}`);
    }
    return { destination: rule.destination!, minBytes: rule.minBytes!, strategy: rule.strategy! };
  });
  return { version: 1, measured: c.measured, machine: c.machine, rules };
}

let rules: readonly Rule[] = DEFAULT_RULES;
let configured: StrategyOption = 'auto';

/** configure(): a calibration's rules replace the defaults for the destinations they name. */
export function useCalibration(calibration: Calibration): void {
  const named = new Set(calibration.rules.map((r) => r.destination));
  rules = [...DEFAULT_RULES.filter((r) => !named.has(r.destination)), ...calibration.rules];
}

/** configure(): the strategy of transfers that do not name one. */
export function useStrategy(strategy: StrategyOption): void {
  configured = strategy;
}

/**
 * The strategy asked for (or configured), or what 'auto' picks for this destination and length; `mapped`: the
 * open-file cache has the whole file mapped (see MAPPED_DESTINATIONS).
 */
export function choose(asked: StrategyOption | undefined, destination: Destination, length: number,
  mapped = false): Choice {
  const option = asked ?? configured;
  if (option !== 'auto') return { strategy: option, reason: 'forced' };
  if (mapped && MAPPED_DESTINATIONS.includes(destination)) return { strategy: 'mmap', reason: `auto:${destination}` };
  let best: Rule | undefined;
  for (const rule of rules) {
    if (rule.destination === destination && rule.minBytes <= length && (!best || rule.minBytes >= best.minBytes)) {
      best = rule;
    }
  }
  return { strategy: best?.strategy ?? 'copy', reason: `auto:${destination}` };
}
