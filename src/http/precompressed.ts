// Precompressed variants: `x.br` / `x.gz` beside `x`, served (zero-copy, ranges on the compressed bytes) when the
// request's Accept-Encoding takes that coding (RFC 9110 §12.5.3: a q of 0 refuses it, `*` stands for the others).
import { invalidArgValue } from '../errors';
import { type Target, openVariant } from './resolve';

export type Encoding = 'br' | 'gzip';

const SUFFIX: Record<Encoding, string> = { br: '.br', gzip: '.gz' };
const ALL: Encoding[] = ['br', 'gzip'];

export function validatePrecompressed(value: unknown, name: string): Encoding[] {
  if (value === undefined || value === false) return [];
  if (value === true) return ALL;
  if (!Array.isArray(value) || value.some((e) => !ALL.includes(e))) {
    throw invalidArgValue(name, value, "must be true, false or a list of 'br' and 'gzip'");
  }
  return value;
}

/** The first of `preferred` the client accepts and that exists beside the file; undefined for the original. */
export function precompressedVariant(acceptEncoding: string | string[] | undefined, target: Extract<Target, { kind: 'file' }>,
  preferred: Encoding[], root?: string): { target: Extract<Target, { kind: 'file' }>; encoding: Encoding } | undefined {
  const accepted = acceptedCodings(Array.isArray(acceptEncoding) ? acceptEncoding.join(',') : acceptEncoding ?? '');
  const qOf = (encoding: Encoding) => accepted.get(encoding) ?? accepted.get('*') ?? 0;
  // The client's highest q first; among equal ones, the order preferred (sort is stable).
  for (const encoding of preferred.filter((e) => qOf(e) > 0).sort((a, b) => qOf(b) - qOf(a))) {
    const variant = openVariant(target.path, SUFFIX[encoding], root);
    if (variant) return { target: variant, encoding };
  }
  return undefined;
}

/**
 * Coding → q from an Accept-Encoding header (`x-gzip` is gzip, `q = 0.5` with spaces); a coding listed twice
 * keeps its lowest q, so that a q=0 refusal stands.
 */
function acceptedCodings(header: string): Map<string, number> {
  const codings = new Map<string, number>();
  for (const item of header.split(',')) {
    const [rawName, ...params] = item.toLowerCase().split(';');
    const name = rawName.trim();
    if (!name) continue;
    const qParam = params.map((p) => p.split('=').map((x) => x.trim())).find(([key]) => key === 'q');
    const q = qParam === undefined ? 1 : qParam[1] === '' ? NaN : Number(qParam[1]);
    const coding = name === 'x-gzip' ? 'gzip' : name;
    codings.set(coding, Math.min(codings.get(coding) ?? 1, Number.isFinite(q) ? q : 0));
  }
  return codings;
}
