/**
 * The harness's command line in this repository: `npm run scenario`, `npm run regress`, `npm run k6`,
 * `npm run tune` (the package's bin, harness/bin.ts, runs the same commands). See harness/cli/program.ts.
 */
import { runHarnessCli } from './cli/program.js';

process.exitCode = await runHarnessCli(process.argv);
