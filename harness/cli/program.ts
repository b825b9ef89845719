/**
 * The harness's command line as a function: `npm run scenario|regress|k6|tune` (harness/cli.ts) and the package's
 * bin (harness/bin.ts) both run it. Bad flags and bad scenario files get a one-line error naming what is wrong and
 * exit code 2; no stack traces unless DEBUG is set.
 */
import { Command, CommanderError } from 'commander';
import { HarnessError } from '../../src/errors.js';
import { k6Command } from './k6-command.js';
import { regressCommand } from './regress-command.js';
import { scenarioCommand } from './scenario-command.js';
import { tuneCommand } from './tune-command.js';

/** Exit code of a bad flag or a bad scenario. */
export const USAGE_EXIT = 2;

/**
 * Runs the harness commands on `argv` (`[node, script, command, ...args]`) and returns the exit code;
 * `programName` is how help and errors name the program (`npm run`, `ai-chaos-harness`).
 */
export async function runHarnessCli(argv: readonly string[], programName = 'npm run'): Promise<number> {
  quietOnClosedStdout();
  // Help and errors name the commands as this program runs them: under the bin, `ai-chaos-harness tune x --vary`,
  // not the repository's `npm run tune x -- --vary` (a user of the package has no such scripts).
  const say = (text: string): string => forProgram(text, programName);
  const output = {
    writeOut: (s: string) => process.stdout.write(say(s)),
    writeErr: (s: string) => process.stderr.write(say(s)),
    outputError: (s: string, write: (str: string) => void) => write(s),
  };
  const program = new Command(programName)
    .description('Load testing and chaos simulation for AI serving')
    .exitOverride()
    .configureOutput(output);
  for (const command of [scenarioCommand(), regressCommand(), k6Command(), tuneCommand()]) program.addCommand(command.exitOverride().configureOutput(output));
  try {
    process.exitCode = undefined;
    await program.parseAsync([...argv]);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    return report(e, say);
  }
}

const NPM_RUN = /npm run (scenario|regress|tune|k6|sim|serve|worker)( [^\s-]\S*)?( --(?= |$))?/g;

/**
 * `text` with the repository's `npm run CMD [ARG] -- FLAGS` written as `PROGRAM CMD [ARG] FLAGS` when the program
 * is not `npm run` (the package's bin takes its flags directly; a `--` there would end the options).
 */
export function forProgram(text: string, programName: string): string {
  return programName === 'npm run' ? text : text.replace(NPM_RUN, (_m, cmd: string, arg: string | undefined) => `${programName} ${cmd}${arg ?? ''}`);
}

/**
 * `... --help | head` closes stdout early: end quietly with 0 (as a Unix tool does) instead of an EPIPE stack trace.
 */
let quiet = false;

export function quietOnClosedStdout(): void {
  if (quiet) return;
  quiet = true;
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
}

function report(e: unknown, say: (text: string) => string): number {
  if (e instanceof CommanderError) {
    // Commander already printed the message (or the help, which exits 0).
    return e.exitCode === 0 ? 0 : USAGE_EXIT;
  }
  if (process.env['DEBUG']) console.error(e);
  if (e instanceof HarnessError) {
    console.error(`error: ${say(e.message)}`);
    return e.code === 'RUN_FAILED' ? 1 : USAGE_EXIT;
  }
  console.error(`error: ${e instanceof Error ? e.message : String(e)}`);
  return 1;
}
