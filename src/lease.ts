// File leases: another process opening the file for writing, or truncating it, breaks the lease; the break
// reaches JS as an event after the native lease thread has already acted (released, or started the grace).
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { handleFd, isFileHandle } from './fds';
import { kernel } from './seam';
import {
  type SystemError,
  INTERNAL,
  illegalConstructor,
  invalidArgType,
  invalidArgValue,
  outOfRange,
  validateFd,
  validateLength,
  validateOptions,
} from './errors';

export type LeaseType = 'read' | 'write';

export interface LeaseOptions {
  /** 'release' (default): give the lease up the moment it breaks. 'hold': keep it until release() or graceMs. */
  onBreak?: 'release' | 'hold';
  /** For 'hold': the lease is given up at this deadline even if JS has not. Default 1000, at most the kernel's
   * /proc/sys/fs/lease-break-time. */
  graceMs?: number;
}

export interface LeaseBreak {
  fd: number;
  type: LeaseType;
  /** When the break signal arrived (ms since the epoch). */
  at: number;
}

const leases = new Map<number, WeakRef<Lease>>();
kernel.setLeaseCallback((id, event, at) => leases.get(id)?.deref()?.notify(event, at));
// A Lease dropped without release() gives its lease up when collected.
const abandoned = new FinalizationRegistry<number>((id) => {
  leases.delete(id);
  kernel.releaseLease(id);
});

export class Lease extends EventEmitter {
  readonly fd: number;
  readonly type: LeaseType;
  #id: number;
  #close: () => void;
  #broken = false;
  #released = false;

  /** @internal */
  constructor(token: typeof INTERNAL, id: number, fd: number, type: LeaseType, close: () => void) {
    if (token !== INTERNAL) throw illegalConstructor('Lease', 'acquireLease()');
    super();
    this.#id = id;
    this.fd = fd;
    this.type = type;
    this.#close = close;
  }

  /** Another process opened the file for writing or truncated it. */
  get broken(): boolean {
    return this.#broken;
  }

  /** The lease is no longer held (released by release(), or by the native side after a break). */
  get released(): boolean {
    return this.#released;
  }

  /** @internal */
  notify(event: 'break' | 'released', at: number): void {
    if (event === 'break') {
      this.#broken = true;
      this.emit('break', { fd: this.fd, type: this.type, at } satisfies LeaseBreak);
    } else if (!this.#released) {
      this.#released = true;
      this.emit('release');
    }
  }

  /** @internal The engine job this lease guards: stopped before the lease is given up after a break. */
  guard(job: number): void {
    if (this.#id !== 0) kernel.guardLease(this.#id, job);
  }

  /** @internal A socket whose send queue may reference the file's pages: the lease is never given up while its
   * peer has not acknowledged everything; if it must be, the connection is reset first. */
  guardSocket(fd: number): void {
    if (this.#id !== 0) kernel.guardLeaseSocket(this.#id, fd);
  }

  /** @internal Bytes the guarded socket's peer has not acknowledged yet. */
  unacked(): number {
    return this.#id === 0 ? 0 : kernel.leaseUnacked(this.#id);
  }

  /** @internal The native lease's id (0 once released), for transfers that copy under it. */
  get nativeId(): number {
    return this.#id;
  }

  /** @internal Whether the lease is held right now: the lease thread may have given it up before JS heard. */
  get held(): boolean {
    return this.#id !== 0 && kernel.leaseHeld(this.#id);
  }

  /** Gives the lease up. Idempotent. */
  release(): void {
    if (this.#id === 0) return;
    kernel.releaseLease(this.#id);
    leases.delete(this.#id);
    abandoned.unregister(this);
    this.#id = 0;
    this.#close();
    if (!this.#released) {
      this.#released = true;
      this.emit('release');
    }
  }

  [Symbol.dispose](): void {
    this.release();
  }
}

function leaseBreakTimeMs(): number {
  try {
    return Number(fs.readFileSync('/proc/sys/fs/lease-break-time', 'utf8')) * 1000;
  } catch {
    return 45_000;
  }
}

const REASONS: Record<string, (type: LeaseType) => string> = {
  EACCES: () => "not the file's owner and no CAP_LEASE",
  EAGAIN: (type) => type === 'read'
    ? 'the file is open for writing, or mapped writable, elsewhere'
    : 'another descriptor or mapping of this file exists',
  EINVAL: () => 'leases need a regular file',
  ENOLCK: () => 'leases need a regular file',
};

/** Takes a read or write lease on a path (opened read-only and closed on release), an fd or a FileHandle. */
export async function acquireLease(target: number | FileHandle | string, type: LeaseType,
  options?: LeaseOptions): Promise<Lease> {
  if (type !== 'read' && type !== 'write') throw invalidArgValue('type', type, "must be 'read' or 'write'");
  const opts = validateOptions<LeaseOptions>(options);
  const onBreak = opts.onBreak ?? 'release';
  if (onBreak !== 'release' && onBreak !== 'hold') {
    throw invalidArgValue('options.onBreak', onBreak, "must be 'release' or 'hold'");
  }
  const limit = leaseBreakTimeMs();
  let graceMs = 1000;
  if (opts.graceMs !== undefined) {
    graceMs = validateLength(opts.graceMs, 'options.graceMs');
    if (graceMs > limit) throw outOfRange('options.graceMs', `<= ${limit} (/proc/sys/fs/lease-break-time)`, graceMs);
  }
  let fd: number;
  let path: string | undefined;
  let close = () => {};
  if (typeof target === 'string') {
    fd = fs.openSync(target, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    path = target;
    close = () => fs.closeSync(fd);
  } else if (typeof target === 'number') {
    fd = validateFd(target, 'target');
  } else if (isFileHandle(target)) {
    fd = handleFd(target, 'fcntl');
  } else {
    throw invalidArgType('target', 'a path, an fd or a FileHandle', target);
  }
  try {
    return leaseFd(fd, type, onBreak === 'hold', Math.min(graceMs, limit), close, path);
  } catch (err) {
    close();
    throw err;
  }
}

/** @internal A lease on an fd the caller keeps open; `close` runs at release. Throws with an actionable reason. */
export function leaseFd(fd: number, type: LeaseType, hold: boolean, graceMs: number, close = () => {},
  path?: string): Lease {
  try {
    const id = kernel.acquireLease(fd, type, hold, Math.min(graceMs, leaseBreakTimeMs()));
    const lease = new Lease(INTERNAL, id, fd, type, close);
    leases.set(id, new WeakRef(lease));
    abandoned.register(lease, id, lease);
    return lease;
  } catch (err) {
    const e = err as SystemError & { reason?: string };
    const reason = REASONS[e.code]?.(type);
    if (reason) {
      e.reason = reason;
      e.message += ` (${reason})`;
    }
    if (path !== undefined) e.path = path;
    throw e;
  }
}

/** The lease on an fd as the kernel sees it. */
export function getLease(fd: number): LeaseType | 'none' {
  validateFd(fd, 'fd');
  return kernel.getLease(fd);
}
