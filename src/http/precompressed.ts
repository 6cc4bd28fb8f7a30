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
  for (const encoding of preferred) {
    const q = accepted.get(encoding) ?? accepted.get('*') ?? 0;
    if (q <= 0) continue;
    const variant = openVariant(target.path, SUFFIX[encoding], root);
    if (variant) return { target: variant, encoding };
  }
  return undefined;
}

/** Coding → q from an Accept-Encoding header (`x-gzip` is gzip). */
function acceptedCodings(header: string): Map<string, number> {
  const codings = new Map<string, number>();
  for (const item of header.split(',')) {
    const [name, ...params] = item.trim().toLowerCase().split(';');
    if (!name) continue;
    const qParam = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const q = qParam === undefined ? 1 : Number(qParam.slice(2));
    codings.set(name === 'x-gzip' ? 'gzip' : name, Number.isFinite(q) ? q : 0);
  }
  return codings;
}
