// Figures as the bench prints them: `d` decimals, '-' for one that does not exist, and never a 0 for a figure
// that is not 0 (a small one keeps two significant digits: 0.0041 GB/s, not 0.00).
export function fixed(x, d = 2) {
  if (!Number.isFinite(x)) return '-';
  return x !== 0 && Math.abs(x) < 0.5 * 10 ** -d ? x.toPrecision(2) : x.toFixed(d);
}

/** A spread (from measure.mjs) as a percentage; '-' when there is none (a single run). */
export function percent(x) {
  return Number.isFinite(x) ? `${Math.round(x * 100)}%` : '-';
}
