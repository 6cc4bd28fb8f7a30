// The portable kernel, for a process without the addon: every transfer is the 'copy' strategy in JavaScript,
// the raw calls are the read/write emulations of fallback.ts, and what cannot be emulated (mappings, leases,
// engine jobs that read sockets) is refused or never reached (the public modules copy through Node instead).
import * as fs from 'node:fs';
import * as os from 'node:os';
import { asSyscallError, systemError, unsupported } from '../errors';
import * as fallback from '../fallback';
import { copyRange, fdWriter } from './copy-loop';
import type { Kernel } from './kernel';
import { portableDirect } from './portable-direct';

export function portableKernel(unavailableReason: string): Kernel {
  /** What fcntl would answer first (EBADF for a closed fd), else that leases need the addon. */
  const noLeases = (fd: number, what: string): never => {
    try {
      fs.fstatSync(fd);
    } catch (err) {
      throw asSyscallError(err, 'fcntl');
    }
    throw unsupported(what, unavailableReason);
  };
  const unreachable = (what: string) => (): never => {
    throw unsupported(what, unavailableReason);
  };
  return {
    native: false,
    unavailableReason,
    strategies: ['copy'],
    capabilities: () => ({
      sendfile: false, splice: false, tee: false, vmsplice: false, copyFileRange: false, mmap: false, leases: false,
      reasons: {},
    }),
    sendfile: fallback.sendfile,
    splice: (fdIn, fdOut, length, offsetIn, offsetOut, _move, _more, nonBlock) =>
      fallback.splice(fdIn, fdOut, length, offsetIn, offsetOut, nonBlock),
    tee: (pipeIn, pipeOut) => fallback.tee(pipeIn, pipeOut),
    vmsplice: (fd, data, nonBlock) => fallback.vmsplice(fd, Array.isArray(data) ? data : [data], nonBlock),
    copyFileRange: fallback.copyFileRange,
    createPipe: (_size, nonBlock) => fallback.createPipe(nonBlock),
    mappedTruncated: () => false,
    regularSize(fd) {
      const st = fs.fstatSync(fd);
      return st.isFile() ? st.size : -1;
    },
    dup: () => undefined,
    mayBlock: () => false,
    ready: () => true,
    openBeneath() {
      throw systemError(-os.constants.errno.ENOSYS, 'openat2');
    },
    setCork: () => false,
    // The open-file cache needs leases: without the addon there is none, so nothing watches directories.
    watchOpen: unreachable('watchOpen'),
    watchMounts: unreachable('watchMounts'),
    watchAdd: unreachable('watchAdd'),
    watchRemove: unreachable('watchRemove'),
    watchPoll: unreachable('watchPoll'),
    watchDrain: unreachable('watchDrain'),
    watchQuiet: unreachable('watchQuiet'),
    envFd: unreachable('envFd'),
    closeEnvFd: unreachable('closeEnvFd'),
    envFds: unreachable('envFds'),
    keepMapped: unreachable('keepMapped'),
    dropMapped: unreachable('dropMapped'),

    map: () => null,
    unmap: unreachable('unmap'),
    msync: unreachable('msync'),
    madvise: unreachable('madvise'),
    mlock: unreachable('mlock'),
    readInto: unreachable('readInto'),
    truncated: () => false,
    setTruncatedCallback() {},
    madviseValues: {},

    setLeaseCallback() {},
    acquireLease: (fd) => noLeases(fd, 'acquireLease'),
    getLease: (fd) => noLeases(fd, 'getLease'),
    releaseLease() {},
    guardLease() {},
    guardLeaseSocket() {},
    leaseUnacked: () => 0,
    leaseHeld: () => false,
    configureLeaseSignal: () => true,

    configure: () => true,
    engineStats: () => ({
      zeroCopyBytes: 0, fallbackBytes: 0, syscalls: 0, eagainWaits: 0, activeJobs: 0, engineThreads: 0, pooledPipes: 0,
    }),
    sendFast: () => -1,
    refusal: () => undefined,
    async send(job) {
      return { bytes: await copyRange(job, fdWriter(job.outFd, null, job.signal)), strategy: 'copy' };
    },
    async copyFile(job) {
      const bytes = await copyRange({ ...job, sent: 0 }, fdWriter(job.outFd, job.outOffset, job.signal));
      return { bytes, fallbackReason: 'no-binding' };
    },
    relay: unreachable('an engine relay'),
    broadcast: unreachable('an engine broadcast'),
    addSink: unreachable('addSink'),
    removeSink: unreachable('removeSink'),
    cancel: unreachable('cancel'),
    direct: portableDirect(unavailableReason),
  };
}
