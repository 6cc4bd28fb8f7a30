// The open-file cache: the fd, stat, validators and a map of hot files, kept so that a hit costs no open, close or
// fstat (one epoll_wait), and dropped by the kernel's word rather than by a timer.
// - Content: each kept fd holds a read lease. A writer opening the file (or truncate(path)) breaks it; the lease
//   thread clears the lease's held flag and gives it up at once, so the writer waits ~0.1 ms, and a lookup that
//   finds the flag cleared drops the entry. A file that cannot be leased (open for writing or mapped writable
//   somewhere, not ours without CAP_LEASE, a filesystem without leases, no addon) is never kept.
// - Names: every directory from / down to the file's is watched (inotify). A rename, unlink, creation, or change
//   of attributes in the file's directory, or of the next name on the path in an ancestor, drops the entries that
//   depend on it. The kernel queues the event before the syscall that made it returns, and every lookup looks at
//   the queue first (one epoll_wait of a ready list when nothing changed), so the next request sees it; fs.watch's
//   callback can come a loop turn too late (a rename by this process, then a pipelined request: late 300 in 300).
// - Mounts: inotify does not report them, so the same epoll instance watches /proc/self/mountinfo too, and a
//   change of the mount table drops every entry.
// - Only a file whose path has no symlink in it is kept (its /proc/self/fd link is the path asked for): the
//   watches then cover every name the resolver walked, so a directory swapped for a symlink out of the root is
//   seen like any rename.
// - Attributes: inotify reports a chmod, chown, touch or xattr change made through another name (a hard link in
//   another directory) to that name's directory only, and none of them opens for writing: the kept file's own
//   inode is watched too (IN_ATTRIB comes whatever name the change was made through, and for its link count).
// Bounded: at most `maxFiles` files per cache (two fds each: ours and the lease's duplicate), and the fds of every
// cache of the process (every Worker's too) within a quarter of RLIMIT_NOFILE, least recently used evicted; an
// entry in use by responses is closed when the last of them releases it.
// Shared by every cache of this environment (a Worker has its own): one inotify instance, one mount-table fd and
// one epoll fd over both, the watches (counted across caches), and the entries by key (a key names everything the
// answer depends on, so caches asked the same thing, as handlers made per request are, share one file). The
// environment's end (a Worker terminated) closes the fds natively.
import type { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { contentType } from 'mime-types';
import type { Lease } from '../lease';
import { leaseFd } from '../lease';
import { kernel } from '../seam';
import { type Validators, validators } from './conditional';
import type { Target } from './resolve';

export interface CachedFile {
  readonly fd: number;
  readonly path: string;
  readonly stat: fs.BigIntStats;
  readonly validators: Validators;
  /** Content-Type, from the path's extension. */
  readonly type: string;
  /** The read lease it is kept under. */
  readonly lease: Lease;
  /** The whole file mapped (kernel.keepMapped), or undefined (empty, or it cannot be mapped). */
  readonly map: number | undefined;
  /** The response is done with the fd. Once per lookup that returned it. */
  release(): void;
}

/** A name in a watched directory an entry depends on; '' stands for every name. */
type Dependency = { wd: number; name: string };

class Entry implements CachedFile {
  refs = 0;
  /** Out of the cache (evicted, invalidated): the fd closes once no response uses it. */
  retired = false;
  readonly validators: Validators;
  readonly type: string;
  /** The servers whose requests it answered: their close retires it. */
  readonly servers = new Set<EventEmitter>();

  readonly map: number | undefined;

  constructor(readonly key: string, readonly fd: number, readonly path: string, readonly stat: fs.BigIntStats,
    readonly lease: Lease, readonly dependencies: Dependency[], readonly owner: FileCache) {
    this.validators = validators(stat);
    this.type = typeOf(path);
    this.map = mapOf(fd, Number(stat.size), lease);
  }

  release(): void {
    this.refs -= 1;
    if (this.retired && this.refs === 0) closeEntry(this);
  }
}

/** What every cache of this environment shares. */
const shared = {
  watchFd: -1,
  mountsFd: -1,
  /** An epoll fd over both: what every lookup looks at first. */
  pollFd: -1,
  /** By key; insertion order is recency (a hit moves its entry to the end). */
  entries: new Map<string, Entry>(),
  /** Out of the cache, still used by responses (and still leased: see retire). */
  retiredInUse: new Set<Entry>(),
  /** wd -> name ('' for any) -> the entries that depend on it. */
  dependents: new Map<number, Map<string, Set<Entry>>>(),
  watchRefs: new Map<number, number>(),
  /** Each server seen, with the entries its requests used: one 'close' listener per server. */
  servers: new WeakMap<EventEmitter, Set<Entry>>(),
  /** The fds the process's caches (every environment's) may hold; read from RLIMIT_NOFILE at the first admission. */
  budget: 0,
};

/**
 * Drops every file kept by any cache of this environment, giving up their leases: a process about to stop
 * (SIGTSTP) cannot answer a lease break, and the kernel would hold every writer of a kept file for
 * lease-break-time.
 */
export function dropEveryKeptFile(): void {
  for (const entry of [...shared.entries.values(), ...shared.retiredInUse]) retire(entry, true);
  closeWatchesWhenIdle();
}

export class FileCache {
  #max: number;
  /** The entries this cache admitted, in recency order: what its bound counts and clear() closes. */
  readonly #owned = new Set<Entry>();
  /** The server of the request being resolved (see servedBy). */
  #server: EventEmitter | undefined;

  constructor(maxFiles: number) {
    this.#max = maxFiles;
  }

  /** A new bound; entries over it that no response uses are closed now. */
  resize(maxFiles: number): void {
    this.#max = maxFiles;
    while (this.#owned.size > this.#max && evictOne(this.#owned.values()));
  }

  /** The lookups that follow answer a request of `server` (or of none): its close retires what they used. */
  servedBy(server: EventEmitter | undefined): void {
    this.#server = server;
    if (server && !shared.servers.has(server)) {
      shared.servers.set(server, new Set());
      server.once('close', () => {
        const used = shared.servers.get(server)!;
        shared.servers.delete(server);
        for (const entry of [...used]) retire(entry);
        closeWatchesWhenIdle();
      });
    }
  }

  /**
   * The file the request names: a kept one, or what `open()` finds, kept when it can be. `file` is the absolute
   * path asked for; `directory`: it names a directory (its index is served), so the watches go down into it.
   */
  lookup(key: string, file: string, directory: boolean, open: () => Target): Target {
    // The common case, before any event is read: nothing queued on the watches, the kept fd's attributes the same.
    const kept = shared.entries.get(key);
    if (kept && unchanged(kept)) return this.#hit(key, kept);
    if (!drain()) return open();
    const hit = shared.entries.get(key);
    if (hit) {
      if (unchanged(hit)) return this.#hit(key, hit);
      retire(hit);
    }
    const target = open();
    if (target.kind !== 'file') return target;
    const entry = this.#admit(key, target, directoriesOf(file, directory), open);
    if (!entry) return target;
    return this.#use(entry, { ...target, stat: entry.stat, cached: entry });
  }

  /** A kept file answers: the most recently used now. */
  #hit(key: string, hit: Entry): Target {
    shared.entries.delete(key);
    shared.entries.set(key, hit);
    hit.owner.#owned.delete(hit);
    hit.owner.#owned.add(hit);
    return this.#use(hit, { kind: 'file', fd: hit.fd, path: hit.path, stat: hit.stat, cached: hit });
  }

  #use(entry: Entry, target: Target): Target {
    entry.refs += 1;
    const used = this.#server && shared.servers.get(this.#server);
    if (used) {
      used.add(entry);
      entry.servers.add(this.#server!);
    }
    return target;
  }

  /** Closes every entry this cache kept that no response uses (the rest as they are released). */
  clear(): void {
    for (const entry of [...this.#owned]) retire(entry);
    closeWatchesWhenIdle();
  }

  /** @internal retire(): the entry is out of the cache. */
  static disown(entry: Entry): void {
    entry.owner.#owned.delete(entry);
  }

  /**
   * Keeps `target` when it can be: leased, its directories watched, and then found again by `open()` as the same
   * file with no symlink on its path. Whatever changed before the watches stood is in what that second look found;
   * whatever changes after is queued for the next lookup. A miss that is not kept costs nothing more than before.
   */
  #admit(key: string, target: { fd: number; path: string; stat: fs.BigIntStats }, directories: string[],
    open: () => Target): Entry | undefined {
    const file = path.resolve(target.path);
    // The index of a directory asked for without its slash (a caller's path) lives below the watched directories.
    if (path.dirname(file) !== directories[directories.length - 1]) return undefined;
    while (this.#owned.size >= this.#max) if (!evictOne(this.#owned.values())) return undefined;
    if (shared.budget === 0) shared.budget = fdBudget();
    // Two fds per file (ours and the lease's), counted in every environment; retired files in use count until
    // closed. Only this environment's files can be evicted here: another Worker's full share means not kept.
    while (2 * (kernel.envFds() + 1) > shared.budget) {
      if (!evictOne(shared.entries.values())) return undefined;
    }
    let lease: Lease;
    try {
      lease = leaseFd(target.fd, 'read', false, 0, undefined, target.path);
    } catch {
      return undefined; // open for writing elsewhere, not ours, no leases here: served, not kept
    }
    // The file's own watch reports an attribute changed through any of its names (a hard link elsewhere).
    const wds = watch(directories, file);
    let again: Target | undefined;
    if (wds) {
      try {
        again = open();
      } catch {
        again = undefined; // served from the first look, not kept
      }
      if (again?.kind === 'file') fs.closeSync(again.fd);
    }
    // The same file, its stat taken under the lease (a write between the first fstat and the lease is in it);
    // and no symlink on the way, or the watches on the path asked for would miss its target's directories.
    const kept = again?.kind === 'file' && again.stat.dev === target.stat.dev && again.stat.ino === target.stat.ino &&
      lease.held && fs.readlinkSync(`/proc/self/fd/${target.fd}`) === file ? again.stat : undefined;
    if (!kept) {
      lease.release();
      if (wds) unwatch(wds);
      return undefined;
    }
    // Each ancestor's next name on the path; every name in the file's directory; the file itself.
    const names = [...directories.slice(1).map((d) => path.basename(d)), '', ''];
    const dependencies = wds!.map((wd, i) => ({ wd, name: names[i] }));
    const entry = new Entry(key, target.fd, target.path, kept, lease, dependencies, this);
    kernel.envFd(entry.fd);
    lease.once('break', () => retire(entry));
    for (const { wd, name } of dependencies) {
      let names = shared.dependents.get(wd);
      if (!names) shared.dependents.set(wd, (names = new Map()));
      let set = names.get(name);
      if (!set) names.set(name, (set = new Set()));
      set.add(entry);
    }
    shared.entries.set(key, entry);
    this.#owned.add(entry);
    return entry;
  }
}

/**
 * Whether a kept entry may answer: its lease held (the lease thread clears the flag before it lets a writer go:
 * a cleared flag may be news JS has not had), and no watch event queued (a name or an attribute it depends on
 * changed). One epoll_wait.
 */
function unchanged(entry: Entry): boolean {
  if (!entry.lease.held) return false;
  const state = kernel.watchQuiet(shared.pollFd);
  if (state === -1) forgetEverything(); // the mount table changed: that news was taken by this look
  return state === 1;
}

/** The least recently used of `entries` that no response uses, retired; false when every one is in use. */
function evictOne(entries: Iterable<Entry>): boolean {
  for (const entry of entries) {
    if (entry.refs === 0) {
      retire(entry);
      return true;
    }
  }
  return false;
}

/**
 * Takes an entry out of the cache. Its lease is kept while responses still use it (`giveUpLease`: at once, for a
 * process about to stop): they write from its map, whose bytes are the file's only while a writer must break
 * that lease first (native/kept_map.h).
 */
function retire(entry: Entry, giveUpLease = false): void {
  if (giveUpLease) entry.lease.release();
  if (entry.retired) return;
  entry.retired = true;
  shared.entries.delete(entry.key);
  FileCache.disown(entry);
  for (const server of entry.servers) shared.servers.get(server)?.delete(entry);
  for (const { wd, name } of entry.dependencies) shared.dependents.get(wd)?.get(name)?.delete(entry);
  unwatch(entry.dependencies.map((d) => d.wd));
  if (entry.refs === 0) closeEntry(entry);
  else shared.retiredInUse.add(entry);
}

/** The last response is done with a retired entry. */
function closeEntry(entry: Entry): void {
  shared.retiredInUse.delete(entry);
  entry.lease.release();
  if (entry.map !== undefined) kernel.dropMapped(entry.map);
  kernel.closeEnvFd(entry.fd);
}

/**
 * A kept file's map, so that a response to a peer on this host is one writev from it (see calibration's
 * choose()), trusted while the cache's lease is held (native/kept_map.h); undefined for an empty file or one that
 * cannot be mapped (served as it would be uncached).
 */
function mapOf(fd: number, size: number, lease: Lease): number | undefined {
  if (size === 0 || lease.nativeId === 0) return undefined;
  try {
    return kernel.keepMapped(fd, size, lease.nativeId);
  } catch {
    return undefined;
  }
}

/** With nothing kept, the inotify instance, the mount-table fd and the epoll fd are given back too. */
function closeWatchesWhenIdle(): void {
  if (shared.pollFd < 0 || shared.watchRefs.size > 0 || shared.entries.size > 0) return;
  kernel.closeEnvFd(shared.pollFd);
  kernel.closeEnvFd(shared.watchFd);
  kernel.closeEnvFd(shared.mountsFd);
  shared.pollFd = shared.watchFd = shared.mountsFd = -1;
}

/** Reads what changed since the last lookup and drops what depends on it; false when there are no watches. */
function drain(): boolean {
  if (shared.pollFd < 0) {
    if (!kernel.native) return false;
    try {
      shared.mountsFd = kernel.watchMounts();
      kernel.envFd(shared.mountsFd);
      shared.watchFd = kernel.watchOpen();
      kernel.envFd(shared.watchFd);
      shared.pollFd = kernel.watchPoll(shared.watchFd, shared.mountsFd);
      kernel.envFd(shared.pollFd);
    } catch {
      // Out of inotify instances (or fds): no cache rather than an unwatched one.
      for (const fd of [shared.watchFd, shared.mountsFd]) if (fd >= 0) kernel.closeEnvFd(fd);
      shared.watchFd = shared.mountsFd = -1;
      return false;
    }
  }
  const events = kernel.watchDrain(shared.pollFd, shared.watchFd);
  if (events === null) return true;
  for (const { wd, name } of events) {
    if (wd === -1) {
      forgetEverything();
      continue;
    }
    const names = shared.dependents.get(wd);
    if (!names) continue;
    const hit = name === '' ? [...names.values()].flatMap((set) => [...set]) :
      [...(names.get(name) ?? []), ...(names.get('') ?? [])];
    for (const entry of hit) retire(entry);
  }
  return true;
}

/** Events were lost, or a mount changed what paths name: nothing kept can be trusted. */
function forgetEverything(): void {
  for (const entry of [...shared.entries.values()]) retire(entry);
}

/**
 * A watch on each directory, then on the file's attributes (one reference each), or undefined when one cannot be
 * watched.
 */
function watch(directories: string[], file: string): number[] | undefined {
  const wds: number[] = [];
  for (const [i, target] of [...directories, file].entries()) {
    let wd: number;
    try {
      wd = kernel.watchAdd(shared.watchFd, target, i === directories.length);
    } catch {
      unwatch(wds); // missing (a 404 to come), no directory, or out of watches: not kept
      return undefined;
    }
    shared.watchRefs.set(wd, (shared.watchRefs.get(wd) ?? 0) + 1);
    wds.push(wd);
  }
  return wds;
}

function unwatch(wds: number[]): void {
  for (const wd of wds) {
    const refs = (shared.watchRefs.get(wd) ?? 1) - 1;
    if (refs > 0) {
      shared.watchRefs.set(wd, refs);
      continue;
    }
    shared.watchRefs.delete(wd);
    shared.dependents.delete(wd);
    kernel.watchRemove(shared.watchFd, wd);
  }
}

/**
 * The fds every cache of the process may hold together: a quarter of RLIMIT_NOFILE's soft limit (the rest is the
 * process's: connections, its own files). Read once; unlimited when the limit is.
 */
function fdBudget(): number {
  const limits = fs.readFileSync('/proc/self/limits', 'utf8');
  const soft = /^Max open files\s+(\S+)/m.exec(limits)?.[1];
  if (soft === undefined || soft === 'unlimited') return Infinity;
  return Math.floor(Number(soft) / 4);
}

/** Files kept by default: a site's hot set, at 259 fds (two per file, the watches', the mount table's, the epoll fd). */
export const DEFAULT_FILE_CACHE = 128;
/** At most this many per cache (131,074 fds), and never more than fdBudget() allows across caches. */
export const MAX_FILE_CACHE = 65_536;

/** serveFile's, shared by its calls (per-call options would otherwise each need a cache of their own). */
export const sharedFileCache = new FileCache(DEFAULT_FILE_CACHE);

/** Content-Type from a path's extension (the mime-types database). */
export function typeOf(file: string): string {
  return contentType(path.extname(file)) || 'application/octet-stream';
}

/** Every directory from / down to the file's own (or to `file` itself, for a directory). */
function directoriesOf(file: string, directory: boolean): string[] {
  const directories: string[] = [];
  for (let dir = directory ? file : path.dirname(file); ; dir = path.dirname(dir)) {
    directories.unshift(dir);
    if (path.dirname(dir) === dir) return directories;
  }
}
