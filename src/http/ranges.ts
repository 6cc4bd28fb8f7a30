// The Range header (RFC 9110 §14): which byte ranges of a representation a GET asks for.

export interface ByteRange {
  start: number;
  /** Inclusive, as in Content-Range. */
  end: number;
}

/**
 * - `ignore`: no usable Range header (absent, another unit, bad syntax): send the whole representation.
 * - `unsatisfiable`: every range lies past the end: 416.
 * - `ranges`: the satisfiable ranges, in the order asked.
 */
export type RangeRequest =
  | { kind: 'ignore' }
  | { kind: 'unsatisfiable' }
  | { kind: 'ranges'; ranges: ByteRange[] };

const IGNORE: RangeRequest = { kind: 'ignore' };
const SPEC = /^(\d*)-(\d*)$/;

export function parseRange(header: string | undefined, size: number): RangeRequest {
  if (header === undefined) return IGNORE;
  const eq = header.indexOf('=');
  if (eq < 0 || header.slice(0, eq).trim().toLowerCase() !== 'bytes') return IGNORE;
  const ranges: ByteRange[] = [];
  let specs = 0;
  for (const raw of header.slice(eq + 1).split(',')) {
    const spec = raw.trim();
    if (spec === '') continue; // the list grammar allows empty elements
    const m = SPEC.exec(spec);
    if (!m || (m[1] === '' && m[2] === '')) return IGNORE;
    specs++;
    if (m[1] === '') {
      // suffix-range: the last N bytes
      const suffix = Number(m[2]);
      if (suffix > 0 && size > 0) ranges.push({ start: Math.max(0, size - suffix), end: size - 1 });
      continue;
    }
    const first = Number(m[1]);
    const last = m[2] === '' ? Infinity : Number(m[2]);
    if (last < first) return IGNORE; // an invalid range-spec makes the whole header invalid
    if (first < size) ranges.push({ start: first, end: Math.min(last, size - 1) });
  }
  if (specs === 0) return IGNORE;
  if (ranges.length === 0) return { kind: 'unsatisfiable' };
  return { kind: 'ranges', ranges };
}

/** Whether any two ranges share a byte (RFC 9110 lets a server answer such a request with the whole file). */
export function overlapping(ranges: ByteRange[]): boolean {
  const sorted = [...ranges].sort((a, b) => a.start - b.start);
  return sorted.some((r, i) => i > 0 && r.start <= sorted[i - 1].end);
}
