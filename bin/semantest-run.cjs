#!/usr/bin/env node
// CommonJS on purpose: it runs before Node loads any ES module (which starts its thread pool), so
// the memory settings of dist/tune.cjs hold for every thread of the run (docs/ARCHITECTURE.md §10
// "The runner's own memory"). Everything else is the ES module bundle dist/cli.js.
require('../dist/tune.cjs');
import('../dist/cli.js').catch((error) => {
  process.stderr.write(`semantest-run could not start: ${error && error.message}\n`);
  process.exit(1);
});
