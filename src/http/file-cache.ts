// The open-file cache: the fd, stat and validators of hot files, kept so that a hit costs no open, fstat or close,
// and dropped by the kernel's word rather than by a timer.
// - Content: each kept fd holds a read lease. A writer opening the file (or truncate(path)) breaks it; the lease
//   thread clears the lease's held flag and gives it up at once, so the writer waits ~0.1 ms, and a lookup that
//   finds the flag cleared drops the entry. A file that cannot be leased (open for writing or mapped writable
//   somewhere, not ours without CAP_LEASE, a filesystem without leases, no addon) is never kept.
// - Names: every directory from / down to the file's is watched (inotify). A rename, unlink, creation, or change
//   of attributes in the file's directory, or of the next name on the path in an ancestor, drops the entries that
//   depend on it. The kernel queues the event before the syscall that made it returns, and every lookup polls the
//   queue first (one poll(2) when nothing changed), so the next request sees it; fs.watch's callback can come a
//   loop turn too late (a rename by this process, then a pipelined request: late 300 times in 300).
// - Mounts: inotify does not report them, so the same poll(2) watches /proc/self/mountinfo too, and a change of
//   the mount table drops every entry.
// - Only a file whose path has no symlink in it is kept (its /proc/self/fd link is the path asked for): the
//   watches then cover every name the resolver walked, so a directory swapped for a symlink out of the root is
//   seen like any rename.
// Bounded: at most `maxFiles` files (two fds each: ours and the lease's duplicate), least recently used evicted;
// an entry in use by responses is closed when the last of them releases it.
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

  constructor(readonly key: string, readonly fd: number, readonly path: string, readonly stat: fs.BigIntStats,
    readonly lease: Lease, readonly dependencies: Dependency[], private readonly owner: FileCache) {
    this.validators = validators(stat);
    this.type = typeOf(path);
  }

  release(): void {
    this.refs -= 1;
    if (this.retired && this.refs === 0) this.owner.close(this);
  }
}

/** Every cache alive in this process, for dropEveryKeptFile(). */
const caches = new Set<WeakRef<FileCache>>();
const forgotten = new FinalizationRegistry<WeakRef<FileCache>>((ref) => caches.delete(ref));

/**
 * Drops every file kept by any cache of this process, giving up their leases: a process about to stop (SIGTSTP)
 * cannot answer a lease break, and the kernel would hold every writer of a kept file for lease-break-time.
 */
export function dropEveryKeptFile(): void {
  for (const ref of caches) ref.deref()?.clear();
}

export class FileCache {
  #max: number;
  #watchFd = -1;
  #mountsFd = -1;
  /** Insertion order is recency: a hit moves its entry to the end. */
  readonly #entries = new Map<string, Entry>();
  /** Retired entries still used by responses: their fds count against the bound until closed. */
  #retired = 0;
  /** wd -> name ('' for any) -> the entries that depend on it. */
  readonly #dependents = new Map<number, Map<string, Set<Entry>>>();
  readonly #watchRefs = new Map<number, number>();
  readonly #servers = new WeakSet<EventEmitter>();

  constructor(maxFiles: number) {
    this.#max = maxFiles;
    const ref = new WeakRef(this);
    caches.add(ref);
    forgotten.register(this, ref);
  }

  /** Files kept, and those retired but still in use (each holds two fds). */
  get size(): number {
    return this.#entries.size + this.#retired;
  }

  /** A new bound; entries over it that no response uses are closed now. */
  resize(maxFiles: number): void {
    this.#max = maxFiles;
    while (this.size > this.#max && this.#evictOne());
  }

  /**
   * The file the request names: a kept one, or what `open()` finds, kept when it can be. `file` is the absolute
   * path asked for; `directory`: it names a directory (its index is served), so the watches go down into it.
   */
  lookup(key: string, file: string, directory: boolean, open: () => Target): Target {
    if (!this.#drain()) return open();
    const hit = this.#entries.get(key);
    if (hit) {
      // The lease thread clears the flag before it lets a writer go: a cleared flag may be news JS has not had.
      if (hit.lease.held) {
        this.#entries.delete(key);
        this.#entries.set(key, hit);
        hit.refs += 1;
        return { kind: 'file', fd: hit.fd, path: hit.path, stat: hit.stat, cached: hit };
      }
      this.#retire(hit);
    }
    const target = open();
    if (target.kind !== 'file') return target;
    const entry = this.#admit(key, target, directoriesOf(file, directory), open);
    if (!entry) return target;
    entry.refs += 1;
    return { ...target, stat: entry.stat, cached: entry };
  }

  /** Cleared when `server` closes, so that a closed server leaves no fd behind. Once per server. */
  closeWith(server: EventEmitter): void {
    if (this.#servers.has(server)) return;
    this.#servers.add(server);
    server.once('close', () => {
      this.#servers.delete(server);
      this.clear();
    });
  }

  /** Closes every entry no response uses (the rest as they are released), and the watch fd. */
  clear(): void {
    this.#retireAll();
    if (this.#watchFd >= 0 && this.#watchRefs.size === 0) {
      fs.closeSync(this.#watchFd);
      fs.closeSync(this.#mountsFd);
      this.#watchFd = this.#mountsFd = -1;
    }
  }

  #retireAll(): void {
    for (const entry of [...this.#entries.values()]) this.#retire(entry);
  }

  /** @internal Entry.release: the last response is done with a retired entry. */
  close(entry: Entry): void {
    this.#retired -= 1;
    fs.closeSync(entry.fd);
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
    while (this.size >= this.#max) if (!this.#evictOne()) return undefined;
    let lease: Lease;
    try {
      lease = leaseFd(target.fd, 'read', false, 0, undefined, target.path);
    } catch {
      return undefined; // open for writing elsewhere, not ours, no leases here: served, not kept
    }
    const wds = this.#watch(directories);
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
      if (wds) this.#unwatch(wds);
      return undefined;
    }
    const dependencies = wds!.map((wd, i) => ({ wd, name: i === wds!.length - 1 ? '' : path.basename(directories[i + 1]) }));
    const entry = new Entry(key, target.fd, target.path, kept, lease, dependencies, this);
    lease.once('break', () => this.#retire(entry));
    for (const { wd, name } of dependencies) {
      let names = this.#dependents.get(wd);
      if (!names) this.#dependents.set(wd, (names = new Map()));
      let set = names.get(name);
      if (!set) names.set(name, (set = new Set()));
      set.add(entry);
    }
    this.#entries.set(key, entry);
    return entry;
  }

  /** The least recently used entry no response uses, retired; false when every entry is in use. */
  #evictOne(): boolean {
    for (const entry of this.#entries.values()) {
      if (entry.refs === 0) {
        this.#retire(entry);
        return true;
      }
    }
    return false;
  }

  #retire(entry: Entry): void {
    if (entry.retired) return;
    entry.retired = true;
    this.#entries.delete(entry.key);
    entry.lease.release();
    for (const { wd, name } of entry.dependencies) this.#dependents.get(wd)?.get(name)?.delete(entry);
    this.#unwatch(entry.dependencies.map((d) => d.wd));
    this.#retired += 1;
    if (entry.refs === 0) this.close(entry);
  }

  /** Reads what changed since the last lookup and drops what depends on it; false when there are no watches. */
  #drain(): boolean {
    if (this.#watchFd < 0) {
      if (!kernel.native) return false;
      try {
        this.#mountsFd = kernel.watchMounts();
        this.#watchFd = kernel.watchOpen();
      } catch {
        // Out of inotify instances (or fds): no cache rather than an unwatched one.
        if (this.#mountsFd >= 0) fs.closeSync(this.#mountsFd);
        this.#mountsFd = -1;
        return false;
      }
    }
    const events = kernel.watchDrain(this.#watchFd, this.#mountsFd);
    if (events === null) return true;
    for (const { wd, name } of events) {
      if (wd === -1) {
        this.#retireAll(); // events were lost, or a mount changed what paths name: nothing kept can be trusted
        continue;
      }
      const names = this.#dependents.get(wd);
      if (!names) continue;
      const hit = name === '' ? [...names.values()].flatMap((set) => [...set]) :
        [...(names.get(name) ?? []), ...(names.get('') ?? [])];
      for (const entry of hit) this.#retire(entry);
    }
    return true;
  }

  /** A watch on each directory (one reference each), or undefined when one cannot be watched. */
  #watch(directories: string[]): number[] | undefined {
    const wds: number[] = [];
    for (const directory of directories) {
      let wd: number;
      try {
        wd = kernel.watchAdd(this.#watchFd, directory);
      } catch {
        this.#unwatch(wds); // missing (a 404 to come), no directory, or out of watches: not kept
        return undefined;
      }
      this.#watchRefs.set(wd, (this.#watchRefs.get(wd) ?? 0) + 1);
      wds.push(wd);
    }
    return wds;
  }

  #unwatch(wds: number[]): void {
    for (const wd of wds) {
      const refs = (this.#watchRefs.get(wd) ?? 1) - 1;
      if (refs > 0) {
        this.#watchRefs.set(wd, refs);
        continue;
      }
      this.#watchRefs.delete(wd);
      this.#dependents.delete(wd);
      kernel.watchRemove(this.#watchFd, wd);
    }
  }
}

/** Files kept by default: a site's hot set, at 258 fds (two per file, the watches' and the mount table's), far
 * below RLIMIT_NOFILE. */
export const DEFAULT_FILE_CACHE = 128;
/** At most this many (131,074 fds). */
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
