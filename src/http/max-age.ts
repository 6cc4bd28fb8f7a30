// Cache-Control max-age from a number of seconds or a duration string ('1d', '2 hours', '500ms'), capped at one
// year as send caps it: a serve-static user's milliseconds (86400000 for a day) must not become a 2,739-year cache.
import { invalidArgType, invalidArgValue, validateLength } from '../errors';

export const MAX_AGE_CAP = 365 * 24 * 60 * 60;

const SECONDS: Record<string, number> = {
  ms: 0.001, msec: 0.001, msecs: 0.001, millisecond: 0.001, milliseconds: 0.001,
  s: 1, sec: 1, secs: 1, second: 1, seconds: 1,
  m: 60, min: 60, mins: 60, minute: 60, minutes: 60,
  h: 3600, hr: 3600, hrs: 3600, hour: 3600, hours: 3600,
  d: 86400, day: 86400, days: 86400,
  w: 604800, week: 604800, weeks: 604800,
  y: MAX_AGE_CAP, yr: MAX_AGE_CAP, yrs: MAX_AGE_CAP, year: MAX_AGE_CAP, years: MAX_AGE_CAP,
};

/** Whole seconds in [0, one year]. */
export function maxAgeSeconds(value: unknown, name: string): number {
  let seconds: number;
  if (typeof value === 'number') {
    seconds = validateLength(value, name);
  } else if (typeof value === 'string') {
    const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(value.trim());
    const unit = match && SECONDS[(match[2] || 's').toLowerCase()];
    if (!match || !unit) {
      throw invalidArgValue(name, value, "must be a number of seconds or a duration such as '1d' or '2 hours'");
    }
    seconds = Number(match[1]) * unit;
  } else {
    throw invalidArgType(name, 'of type number or string', value);
  }
  if (!Number.isFinite(seconds)) throw invalidArgValue(name, value, 'must be a finite duration');
  return Math.min(Math.floor(seconds), MAX_AGE_CAP);
}
