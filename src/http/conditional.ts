// Validators (ETag, Last-Modified) and the precondition order of RFC 9110 §13.2.2.
import type { BigIntStats } from 'node:fs';

export interface Validators {
  /** Weak: from size and the modification time in nanoseconds. */
  etag: string;
  lastModified: string;
  /** Modification time, whole seconds (HTTP dates have no finer grain). */
  mtimeSeconds: number;
}

export function validators(st: BigIntStats): Validators {
  const mtimeMs = Number(st.mtimeNs / 1_000_000n);
  return {
    etag: `W/"${st.size.toString(16)}-${st.mtimeNs.toString(16)}"`,
    lastModified: new Date(mtimeMs).toUTCString(),
    mtimeSeconds: Math.floor(mtimeMs / 1000),
  };
}

type Headers = Record<string, string | string[] | undefined>;

/** What the preconditions decide: go on, 304 Not Modified, or 412 Precondition Failed. */
export type Precondition = 'proceed' | 304 | 412;

export function evaluatePreconditions(headers: Headers, v: Validators, method: string): Precondition {
  const ifMatch = single(headers['if-match']);
  if (ifMatch !== undefined) {
    if (!tagListMatches(ifMatch, v.etag, true)) return 412;
  } else {
    const since = httpDate(headers['if-unmodified-since']);
    if (since !== undefined && v.mtimeSeconds > since) return 412;
  }
  const safe = method === 'GET' || method === 'HEAD';
  const ifNoneMatch = single(headers['if-none-match']);
  if (ifNoneMatch !== undefined) {
    if (tagListMatches(ifNoneMatch, v.etag, false)) return safe ? 304 : 412;
  } else if (safe) {
    const since = httpDate(headers['if-modified-since']);
    if (since !== undefined && v.mtimeSeconds <= since) return 304;
  }
  return 'proceed';
}

/**
 * If-Range (§13.1.5): the Range applies only when the validator still matches: an entity-tag compared
 * strongly (so our weak tags never match), or a date equal to Last-Modified.
 */
export function ifRangeHolds(headers: Headers, v: Validators): boolean {
  const value = single(headers['if-range'])?.trim();
  if (value === undefined) return true;
  if (value.startsWith('"') || value.startsWith('W/')) return strongMatch(value, v.etag);
  return httpDate(value) === v.mtimeSeconds;
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

function httpDate(value: string | string[] | undefined): number | undefined {
  const text = single(value);
  if (text === undefined) return undefined;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : Math.floor(ms / 1000);
}

function tagListMatches(list: string, etag: string, strong: boolean): boolean {
  if (list.trim() === '*') return true;
  return list.split(',').some((tag) => (strong ? strongMatch(tag.trim(), etag) : weakMatch(tag.trim(), etag)));
}

function opaque(tag: string): string {
  return tag.startsWith('W/') ? tag.slice(2) : tag;
}

function weakMatch(a: string, b: string): boolean {
  return a !== '' && opaque(a) === opaque(b);
}

function strongMatch(a: string, b: string): boolean {
  return !a.startsWith('W/') && !b.startsWith('W/') && a === b;
}
