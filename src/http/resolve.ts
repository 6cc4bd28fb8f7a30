// From a request path to an open file under the served root, or the status that refuses it. With the addon,
// the kernel does the confinement: openat2(RESOLVE_BENEATH) refuses `..` and symlinks that leave the root, and
// there is no window between a check and the open. Without it, realpath is checked before the open.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { kernel } from '../seam';
import type { SystemError } from '../errors';
import type { CachedFile, FileCache } from './file-cache';

export type Dotfiles = 'deny' | 'ignore' | 'allow';

export interface ResolveOptions {
  root?: string;
  dotfiles: Dotfiles;
  index: string[];
  /** A directory asked for without its trailing slash: redirected (true) or 404 (false). */
  redirect: boolean;
  /** Extensions tried, in order, for a path that names no file (`['html']`: `/about` is `about.html`). */
  extensions: string[];
  /** Where files found are kept open (a hit opens nothing); each file target must then be given to closeTarget. */
  cache?: FileCache;
}

export type Target =
  /** `cached`: the fd is the cache's, given back by closeTarget, never closed. */
  | { kind: 'file'; fd: number; path: string; stat: fs.BigIntStats; cached?: CachedFile }
  | { kind: 'redirect'; location: string }
  | { kind: 'refused'; status: 400 | 403 | 404; reason: string };

const OPEN_FLAGS = fs.constants.O_RDONLY | fs.constants.O_NONBLOCK;
const refused = (status: 400 | 403 | 404, reason: string): Target => ({ kind: 'refused', status, reason });
const NOT_FOUND = refused(404, 'not found');

/**
 * `requestPath` is a URL path (percent-encoded, query allowed, absolute-form as RFC 9112 §3.2.2 allows) under
 * `root`, or a file path when no root: there `..` segments are refused and `dotfiles` applies, as send does.
 */
export function resolveTarget(requestPath: string, opts: ResolveOptions): Target {
  if (opts.root === undefined) {
    const segments = requestPath.split(/[/\\]/);
    if (segments.includes('..')) return refused(403, 'dot segment in path');
    const dotted = dotfileRefusal(segments.filter((s) => s !== '.'), opts.dotfiles);
    if (dotted) return dotted;
    if (!opts.cache) return openTrusted(requestPath, opts.index);
    // The same path names another file after a chdir, or with another index: all in the key.
    const file = path.resolve(requestPath);
    return opts.cache.lookup(`\0${file}\0${opts.index.join('/')}`, file, false, () => openTrusted(requestPath, opts.index));
  }
  const named = namedUnderRoot(requestPath, opts);
  if ('kind' in named) return named;
  const { relative, slash } = named;
  const open = () => openUnder(opts.root!, relative, slash, opts);
  const target = opts.cache ? opts.cache.lookup(named.key, named.file, slash, open) : open();
  if (target.kind === 'redirect') {
    if (!opts.redirect) return refused(404, 'directory without a trailing slash');
    target.location = directoryLocation(originForm(requestPath));
  }
  return target;
}

/** What a URL names under the root: the path relative to it, whether it ends in a slash, and its cache key. */
interface Named {
  relative: string;
  slash: boolean;
  /** What decides the answer: the root, the path, the slash, the index files and the extensions tried. */
  key: string;
  file: string;
}

/**
 * Hot URLs, per options object (serveFile remembers its settings, a handler has one): what each names depends on
 * nothing else, so it is worked out once. Emptied when full, so that a client asking for endless distinct URLs
 * costs a bounded map.
 */
const namedCache = new WeakMap<ResolveOptions, Map<string, Named>>();
const NAMED_CACHE_SIZE = 1024;

function namedUnderRoot(requestPath: string, opts: ResolveOptions): Named | Target {
  let known = namedCache.get(opts);
  const hit = known?.get(requestPath);
  if (hit) return hit;
  const named = nameUnderRoot(requestPath, opts);
  if ('kind' in named) return named; // refusals are rare and cheap to work out again
  if (!known) namedCache.set(opts, (known = new Map()));
  if (known.size >= NAMED_CACHE_SIZE) known.clear();
  known.set(requestPath, named);
  return named;
}

function nameUnderRoot(requestPath: string, opts: ResolveOptions): Named | Target {
  const pathname = originForm(requestPath).replace(/[?#].*$/s, '');
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return refused(400, 'malformed percent-encoding');
  }
  if (decoded.includes('\0')) return refused(404, 'NUL byte in path');
  if (decoded.includes('\\')) return refused(404, 'backslash in path');
  const segments = decoded.split('/').filter((s) => s !== '');
  if (segments.some((s) => s === '..' || s === '.')) return refused(403, 'dot segment in path');
  const dotted = dotfileRefusal(segments, opts.dotfiles);
  if (dotted) return dotted;
  const relative = segments.join('/');
  // '' is a mount point asked for without its slash (the static handler passes it): a redirect, as serve-static.
  const slash = pathname === '' ? false : decoded.endsWith('/');
  // Dotfiles and dot segments are refused above, before any lookup; redirects are never kept.
  const key = [opts.root, relative, slash, opts.index.join('/'), opts.extensions.join('/')].join('\0');
  return { relative, slash, key, file: path.join(opts.root!, relative) };
}

/** A file target is done with: the cache's fd given back, or our own closed. */
export function closeTarget(target: Extract<Target, { kind: 'file' }>): void {
  if (target.cached) target.cached.release();
  else fs.closeSync(target.fd);
}

function dotfileRefusal(segments: string[], dotfiles: Dotfiles): Target | undefined {
  if (dotfiles === 'allow' || !segments.some((s) => s.startsWith('.'))) return undefined;
  return dotfiles === 'deny' ? refused(403, 'dotfile denied') : refused(404, 'dotfile ignored');
}

/** A request target in absolute-form (`http://host/path`) as the origin-form path a server reads. */
export function originForm(url: string): string {
  const match = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(url);
  if (!match) return url;
  const rest = url.slice(match[0].length);
  return rest.startsWith('/') ? rest : `/${rest}`;
}

/**
 * Where a directory asked for without its trailing slash lives: the same URL with one. Leading slashes are
 * collapsed, so that `//evil.example` cannot become a protocol-relative redirect to another host.
 */
export function directoryLocation(url: string): string {
  const pathname = url.replace(/[?#].*$/s, '');
  const name = pathname.replace(/^[/\\]+/, '');
  // Never `//x`: a Location starting with two slashes names another host. The root ('', '?x') is '/'.
  return encodeUrl(`/${name}${name === '' ? '' : '/'}${url.slice(pathname.length)}`);
}

/**
 * Percent-encodes what a header value cannot carry (spaces, non-ASCII: a Location Node would refuse with
 * ERR_INVALID_CHAR), leaving valid %XX escapes and URL delimiters as they are (encodeurl's rule).
 */
export function encodeUrl(url: string): string {
  // A lone surrogate (which encodeURI refuses) becomes U+FFFD, as encodeurl does.
  return url.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD').replace(
    /(?:[^\x21\x23-\x3B\x3D\x3F-\x5F\x61-\x7A\x7C\x7E]|%(?:[^0-9A-Fa-f]|[0-9A-Fa-f][^0-9A-Fa-f]|$))+/g,
    (s: string) => encodeURI(s),
  );
}

function openUnder(root: string, relative: string, slash: boolean, opts: ResolveOptions): Target {
  const full = path.join(root, relative);
  return withRoot(root, (rootFd) => {
    const fd = openBeneath(rootFd, root, relative === '' ? '.' : relative);
    if (typeof fd !== 'number') return fd === NOT_FOUND && !slash ? withExtension(rootFd, root, relative, opts) : fd;
    return settle(fd, full, slash, opts.index, (name) => openBeneath(fd, full, name));
  });
}

/**
 * `relative` (a decoded path) opened beneath `root` with the resolver's confinement: the fd, or the refusal. For a
 * caller that reads the directory itself (the listing), so that what it reads is what was confined.
 */
export function openBeneathRoot(root: string, relative: string): number | Target {
  return withRoot(root, (rootFd) => openBeneath(rootFd, root, relative === '' ? '.' : relative));
}

/** Runs `use` with the root directory open (closed after), or answers why the root cannot be opened. */
function withRoot<T>(root: string, use: (rootFd: number) => T): T | Target {
  let rootFd: number;
  try {
    rootFd = fs.openSync(root, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  } catch (err) {
    return openFailure(err);
  }
  try {
    return use(rootFd);
  } finally {
    fs.closeSync(rootFd);
  }
}

/**
 * `file` with `suffix` (x.br beside x), confined as `file` was (beneath `root`); undefined when that is no regular
 * file. For precompressed variants: a missing one is the common case, not an error.
 */
export function openVariant(file: string, suffix: string, root?: string): Extract<Target, { kind: 'file' }> | undefined {
  let fd: number | Target;
  if (root === undefined) {
    try {
      fd = fs.openSync(file + suffix, OPEN_FLAGS);
    } catch {
      return undefined;
    }
  } else {
    const rootFd = fs.openSync(root, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    try {
      fd = openBeneath(rootFd, root, path.relative(root, file) + suffix);
    } finally {
      fs.closeSync(rootFd);
    }
  }
  if (typeof fd !== 'number') return undefined;
  const target = settle(fd, file + suffix, undefined, [], () => NOT_FOUND);
  return target.kind === 'file' ? target : undefined;
}

/** The first `relative.ext` that is a regular file, for a path that names nothing. */
function withExtension(rootFd: number, root: string, relative: string, opts: ResolveOptions): Target {
  for (const ext of opts.extensions) {
    const fd = openBeneath(rootFd, root, `${relative}.${ext}`);
    if (typeof fd !== 'number') continue;
    const target = settle(fd, `${path.join(root, relative)}.${ext}`, undefined, [], () => NOT_FOUND);
    if (target.kind === 'file') return target;
  }
  return NOT_FOUND;
}

/** A file path the caller chose: opened as it is; a directory serves its index. */
function openTrusted(file: string, index: string[]): Target {
  let fd: number;
  try {
    fd = fs.openSync(file, OPEN_FLAGS);
  } catch (err) {
    return openFailure(err);
  }
  return settle(fd, file, undefined, index, (name) => {
    try {
      return fs.openSync(path.join(file, name), OPEN_FLAGS);
    } catch (err) {
      return openFailure(err);
    }
  });
}

/**
 * Takes ownership of `fd`: a regular file is the target (not with a trailing slash); a directory leads to its
 * index or, asked for without the slash, a redirect. `slash` undefined: a caller's path, never redirected.
 */
function settle(fd: number, file: string, slash: boolean | undefined, index: string[],
  openIndex: (name: string) => number | Target): Target {
  let st: fs.BigIntStats;
  try {
    st = fs.fstatSync(fd, { bigint: true });
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
  if (st.isFile() && slash !== true) return { kind: 'file', fd, path: file, stat: st };
  try {
    if (st.isFile()) return refused(404, 'a file asked for as a directory');
    if (!st.isDirectory()) return refused(404, 'not a regular file');
    if (slash === false) return { kind: 'redirect', location: '' };
    for (const name of index) {
      const found = openIndex(name);
      if (typeof found !== 'number') continue;
      const target = settle(found, path.join(file, name), false, [], () => NOT_FOUND);
      if (target.kind === 'file') return target;
    }
    return refused(404, 'directory without an index');
  } finally {
    fs.closeSync(fd);
  }
}

/** openat2 beneath `dirFd`; the realpath check where the kernel or the addon cannot. */
function openBeneath(dirFd: number, dir: string, relative: string): number | Target {
  try {
    return kernel.openBeneath(dirFd, relative);
  } catch (err) {
    if ((err as SystemError).code !== 'ENOSYS') return openFailure(err);
  }
  try {
    const realDir = fs.realpathSync(dir);
    const beneath = (real: string) =>
      real === realDir || real.startsWith(realDir.endsWith(path.sep) ? realDir : realDir + path.sep);
    const real = fs.realpathSync(path.join(dir, relative));
    if (!beneath(real)) return refused(404, 'path leaves the root');
    const fd = fs.openSync(real, OPEN_FLAGS);
    // A symlink swapped in between the check and the open was followed: on Linux, what the fd is decides.
    if (process.platform !== 'linux' || beneath(fs.readlinkSync(`/proc/self/fd/${fd}`))) return fd;
    fs.closeSync(fd);
    return refused(404, 'path leaves the root');
  } catch (err) {
    return openFailure(err);
  }
}

function openFailure(err: unknown): Target {
  switch ((err as SystemError).code) {
    case 'ENOENT':
    case 'ENOTDIR':
    case 'ENAMETOOLONG':
      return NOT_FOUND;
    case 'EXDEV':
    case 'ELOOP':
      return refused(404, 'path leaves the root');
    case 'EACCES':
    case 'EPERM':
      return refused(403, 'permission denied');
    default:
      throw err;
  }
}
