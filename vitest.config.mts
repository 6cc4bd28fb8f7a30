import { defineConfig } from 'vitest/config';

// The whole suite runs twice: once on the native binding, once with every call forced onto the read/write
// fallback. Test files run in child processes (forks) so that fds and signals belong to one test file.
// Two files at a time, on any machine: vitest's default (cores - 1) ran one at a time on CI's two cores, where most
// files wait on children, sockets and timers; more than two at once was never checked for fixtures that time out.
const native = { ZEROCOPY_FORCE_FALLBACK: '0' };

export default defineConfig({
  test: {
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    projects: [
      { extends: true, test: { name: 'native', env: native } },
      // *.alone.ts: a file that changes a setting the whole machine shares, run alone after the others (lowering
      // /proc/sys/fs/lease-break-time changes what every lease in another file sees: graceMs is bounded by it).
      // Named apart rather than excluded from 'native': a project's own exclude drops the command line's.
      { extends: true, test: { name: 'native-alone', env: native, include: ['test/**/*.alone.ts'], maxWorkers: 1 } },
      { extends: true, test: { name: 'fallback', env: { ZEROCOPY_FORCE_FALLBACK: '1' } } },
    ],
  },
});
