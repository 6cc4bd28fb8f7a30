#!/bin/sh
# npm run test:asan: the native test project against an addon built with AddressSanitizer and
# UndefinedBehaviorSanitizer. Node itself is not instrumented, so the sanitizer runtimes are preloaded into every
# process the suite starts. The normal build/ is moved aside and moved back afterwards, pass or fail (rebuilding it
# took a minute). Left out: the bench runs (they measure nothing, and their hostile cases test the bench's own
# tools), the package test (it builds its own prebuild, without sanitizers), the README examples and CLI children
# (their native calls are the ones the other files make, at many times the start-up cost under the preloaded
# runtimes), and the lease page-lifetime rounds (500 of the same race per case, 83 s here: lease.test.ts takes the
# same native paths once each).
set -eu
cd "$(dirname "$0")/.."
cxx=${CXX:-g++}
asan=$($cxx -print-file-name=libasan.so)
ubsan=$($cxx -print-file-name=libubsan.so)
if [ ! -e "$asan" ] || [ ! -e "$ubsan" ]; then
  echo "test:asan needs the sanitizer runtimes of $cxx (libasan, libubsan: apt-get install g++)" >&2
  exit 1
fi
saved=.build-before-asan
# A run killed before it could put the normal build back left it there: that one is the normal build.
if [ -d "$saved" ]; then rm -rf build; mv "$saved" build; fi
[ -d build ] && mv build "$saved"
restore() {
  rm -rf build
  if [ -d "$saved" ]; then mv "$saved" build; else npx node-gyp rebuild >/dev/null 2>&1; fi ||
    echo 'could not restore the normal build: npm run build' >&2
}
trap restore EXIT
trap 'exit 130' INT TERM HUP # so that Ctrl-C restores it too
npx node-gyp rebuild --jobs max -- -Dzerocopy_sanitize=true >/dev/null 2>&1
# detect_leaks=0: LeakSanitizer would report V8's and Node's own long-lived allocations. Any ASAN or UBSAN
# report aborts the process, which fails the test that caused it. The SIGBUS/SIGSEGV handlers stay ours.
# quarantine_size_mb=32: freed memory waits in quarantine before reuse (256 MiB by default), which the RSS bound
# of test/leaks.test.ts would read as a leak (10,000 sendFiles: +152 MiB under the default, +26 MiB without ASAN).
export LD_PRELOAD="$asan $ubsan"
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:allow_user_segv_handler=1:handle_segv=0:handle_sigbus=0:quarantine_size_mb=32
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
# The native project must really run on the sanitized addon, not on the fallback after a failed load.
node -e "const b = require('./lib/binding'); if (!b.binding) { console.error(b.unavailableReason); process.exit(1); }"
node node_modules/vitest/vitest.mjs run --project 'native*' \
    --exclude test/bench.test.ts --exclude test/bench-hostile.test.ts --exclude test/package.test.ts \
    --exclude test/readme.test.ts --exclude test/cli.test.ts --exclude test/lease-pages.test.ts "$@"
