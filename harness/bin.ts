#!/usr/bin/env node
/**
 * The package's bin, `ai-chaos-harness <command> [args]`: the same commands, flags, help and exit codes as this
 * repository's npm scripts. scenario, regress, k6 and tune are the harness's commands; sim, serve and worker start
 * the mock GPU server, the engine service and a Redis queue worker (each takes its own --help).
 */
import { readFileSync } from 'node:fs';
import { setProgram } from '../src/cli-program.js';
import { runHarnessCli, quietOnClosedStdout, USAGE_EXIT } from './cli/program.js';

const PROGRAM = 'ai-chaos-harness';
const HARNESS_COMMANDS = ['scenario', 'regress', 'k6', 'tune'];
/** Process entry points, relative to this file; each parses `process.argv.slice(2)` itself. */
const PROCESS_COMMANDS: Readonly<Record<string, string>> = {
  sim: '../sim/main.js',
  serve: '../src/api/main.js',
  worker: '../src/worker/main.js',
};

const USAGE = `Usage: ${PROGRAM} <command> [args]

Load testing and chaos simulation for AI serving.

Commands:
  scenario <name|file>   run a scenario's policies side by side (a built-in name or a .ts/.js/.mjs/.json file)
  regress [files...]     run scenarios in virtual mode and compare them with their baselines (--baselines DIR)
  tune [scenario]        sweep policy settings until the SLOs are met
  k6 <name|file>         write a scenario as a k6 script
  sim                    start the token-free mock GPU model server
  serve                  start the engine service
  worker                 start a Redis queue worker

Run ${PROGRAM} <command> --help for a command's flags; ${PROGRAM} scenario FILE --help describes that scenario.
${PROGRAM} --version prints the package's version.
`;

const [command, ...rest] = process.argv.slice(2);
quietOnClosedStdout();
if (command === undefined) {
  process.stderr.write(USAGE);
  process.exitCode = USAGE_EXIT;
} else if (command === '--help' || command === '-h' || command === 'help') {
  process.stdout.write(USAGE);
} else if (command === '--version' || command === '-V') {
  // package.json is two folders up from dist/harness/bin.js, one from harness/bin.ts.
  const pkg = new URL(import.meta.url.endsWith('.ts') ? '../package.json' : '../../package.json', import.meta.url);
  process.stdout.write(`${(JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version}\n`);
} else if (HARNESS_COMMANDS.includes(command)) {
  process.exitCode = await runHarnessCli(process.argv, PROGRAM);
} else if (command in PROCESS_COMMANDS) {
  // The entry point sees the arguments after the command, as under `npm run sim -- ...`.
  process.argv = [process.argv[0] as string, process.argv[1] as string, ...rest];
  setProgram(PROGRAM);
  const entry = PROCESS_COMMANDS[command] as string;
  await import(new URL(import.meta.url.endsWith('.ts') ? entry.replace(/\.js$/, '.ts') : entry, import.meta.url).href);
} else {
  process.stderr.write(`error: unknown command ${JSON.stringify(command)}; expected one of ${[...HARNESS_COMMANDS, ...Object.keys(PROCESS_COMMANDS)].join(', ')}\n`);
  process.exitCode = USAGE_EXIT;
}
