// From a request path to an open file under the served root, or the status that refuses it. With the addon,
// the kernel does the confinement: openat2(RESOLVE_BENEATH) refuses `..` and symlinks that leave the root, and
// there is no window between a check and the open. Without it, realpath is checked before the open.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { kernel } from '../seam';
import type { SystemError } from '../errors';

export type Dotfiles = 'deny' | 'ignore' | 'allow';

export interface ResolveOptions {
  root?: string;
  dotfiles: Dotfiles;
  index: string[];
}

export type Target =
  | { kind: 'file'; fd: number; path: string; stat: fs.BigIntStats }
  | { kind: 'redirect'; location: string }
  | { kind: 'refused'; status: 400 | 403 | 404; reason: string };

const OPEN_FLAGS = fs.constants.O_RDONLY | fs.constants.O_NONBLOCK;
const refused = (status: 400 | 403 | 404, reason: string): Target => ({ kind: 'refused', status, reason });

/** `requestPath` is a URL path (percent-encoded, query allowed) under `root`, or a file path when no root. */
export function resolveTarget(requestPath: string, opts: ResolveOptions): Target {
  if (opts.root === undefined) return openTrusted(requestPath, opts.index);
  const pathname = requestPath.replace(/[?#].*$/s, '');
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
  if (opts.dotfiles !== 'allow' && segments.some((s) => s.startsWith('.'))) {
    return opts.dotfiles === 'deny' ? refused(403, 'dotfile denied') : refused(404, 'dotfile ignored');
  }
  const relative = segments.join('/');
  const target = openUnder(opts.root, relative, decoded.endsWith('/') || relative === '', opts.index);
  if (target.kind === 'redirect') target.location = directoryLocation(requestPath);
  return target;
}

/**
 * Where a directory asked for without its trailing slash lives: the same URL with one. Leading slashes are
 * collapsed, so that `//evil.example` cannot become a protocol-relative redirect to another host.
 */
export function directoryLocation(url: string): string {
  const pathname = url.replace(/[?#].*$/s, '');
  return `/${pathname.replace(/^[/\\]+/, '')}/${url.slice(pathname.length)}`;
}

function openUnder(root: string, relative: string, wantsDirectory: boolean, index: string[]): Target {
  const full = path.join(root, relative);
  let rootFd: number;
  try {
    rootFd = fs.openSync(root, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  } catch (err) {
    return openFailure(err);
  }
  try {
    const fd = openBeneath(rootFd, root, relative === '' ? '.' : relative);
    if (typeof fd !== 'number') return fd;
    return settle(fd, full, wantsDirectory, index, (name) => openBeneath(fd, full, name));
  } finally {
    fs.closeSync(rootFd);
  }
}

/** A file path the caller chose: opened as it is; a directory serves its index. */
function openTrusted(file: string, index: string[]): Target {
  let fd: number;
  try {
    fd = fs.openSync(file, OPEN_FLAGS);
  } catch (err) {
    return openFailure(err);
  }
  return settle(fd, file, true, index, (name) => {
    try {
      return fs.openSync(path.join(file, name), OPEN_FLAGS);
    } catch (err) {
      return openFailure(err);
    }
  });
}

/** Takes ownership of `fd`: a regular file is the target; a directory leads to its index or a redirect. */
function settle(fd: number, file: string, wantsDirectory: boolean, index: string[],
  openIndex: (name: string) => number | Target): Target {
  let st: fs.BigIntStats;
  try {
    st = fs.fstatSync(fd, { bigint: true });
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
  if (st.isFile()) return { kind: 'file', fd, path: file, stat: st };
  try {
    if (!st.isDirectory()) return refused(404, 'not a regular file');
    if (!wantsDirectory) return { kind: 'redirect', location: '' };
    for (const name of index) {
      const found = openIndex(name);
      if (typeof found !== 'number') continue;
      const target = settle(found, path.join(file, name), false, [], () => refused(404, 'no index'));
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
    const real = fs.realpathSync(path.join(dir, relative));
    const realDir = fs.realpathSync(dir);
    if (real !== realDir && !real.startsWith(realDir.endsWith(path.sep) ? realDir : realDir + path.sep)) {
      return refused(404, 'path leaves the root');
    }
    return fs.openSync(real, OPEN_FLAGS);
  } catch (err) {
    return openFailure(err);
  }
}

function openFailure(err: unknown): Target {
  switch ((err as SystemError).code) {
    case 'ENOENT':
    case 'ENOTDIR':
    case 'ENAMETOOLONG':
      return refused(404, 'not found');
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
