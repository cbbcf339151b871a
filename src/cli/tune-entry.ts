// dist/tune.cjs: tunes the process when loaded (bin/semantest-run.cjs, or `node --require dist/tune.cjs`
// for the benches) and keeps what it did for `doctor`. See src/cli/tune-process.ts.
import { tuneProcess } from './tune-process.js';

export const tuning = tuneProcess();
