/**
 * The harness's command line: `npm run scenario`, `npm run regress`. Bad flags and bad scenario files get a one-line
 * error naming what is wrong and exit code 2; no stack traces unless DEBUG is set.
 */
import { Command, CommanderError } from 'commander';
import { HarnessError } from '../src/errors.js';
import { k6Command } from './cli/k6-command.js';
import { regressCommand } from './cli/regress-command.js';
import { scenarioCommand } from './cli/scenario-command.js';
import { tuneCommand } from './cli/tune-command.js';

const USAGE_EXIT = 2;

const program = new Command('npm run')
  .description('Load testing and chaos simulation for AI serving')
  .exitOverride()
  .configureOutput({ outputError: (s, write) => write(s) })
  .addCommand(scenarioCommand().exitOverride())
  .addCommand(regressCommand().exitOverride())
  .addCommand(k6Command().exitOverride())
  .addCommand(tuneCommand().exitOverride());

try {
  await program.parseAsync(process.argv);
} catch (e) {
  process.exitCode = report(e);
}

function report(e: unknown): number {
  if (e instanceof CommanderError) {
    // Commander already printed the message (or the help, which exits 0).
    return e.exitCode === 0 ? 0 : USAGE_EXIT;
  }
  if (process.env['DEBUG']) console.error(e);
  if (e instanceof HarnessError) {
    console.error(`error: ${e.message}`);
    return e.code === 'RUN_FAILED' ? 1 : USAGE_EXIT;
  }
  console.error(`error: ${e instanceof Error ? e.message : String(e)}`);
  return 1;
}
