import { defineConfig } from 'vitest/config';

// The whole suite runs twice: once on the native binding, once with every call forced onto the read/write
// fallback. Test files run in child processes (forks) so that fds and signals belong to one test file.
export default defineConfig({
  test: {
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    projects: [
      { extends: true, test: { name: 'native', env: { ZEROCOPY_FORCE_FALLBACK: '0' } } },
      { extends: true, test: { name: 'fallback', env: { ZEROCOPY_FORCE_FALLBACK: '1' } } },
    ],
  },
});
