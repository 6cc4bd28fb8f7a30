#!/usr/bin/env node
'use strict';
let cli;
try {
  cli = require('../lib/cli.js');
} catch (err) {
  // ZEROCOPY_REQUIRE_NATIVE without the addon: its message (which starts with "zerocopy: ") is the whole story.
  if (err.code !== 'ERR_ZEROCOPY_NATIVE_REQUIRED') throw err;
  console.error(err.message);
  process.exit(1);
}
cli.main(process.argv.slice(2));
