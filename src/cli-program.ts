/**
 * How the process commands (sim, serve, worker) are run, for their usage line and their "see --help" hint: through
 * the package's bin (`ai-chaos-harness sim --port 0`, which sets AI_CHAOS_HARNESS_PROGRAM before it starts one) or
 * as this repository's npm scripts (`npm run sim -- --port 0`).
 */
const PROGRAM_ENV = 'AI_CHAOS_HARNESS_PROGRAM';

/** The program the bin runs as, when it does. */
function program(): string | undefined {
  const p = process.env[PROGRAM_ENV];
  return p === undefined || p === '' ? undefined : p;
}

/** The name in the command's usage line: `ai-chaos-harness sim` under the bin, else `sim`. */
export function commandName(command: string): string {
  const p = program();
  return p === undefined ? command : `${p} ${command}`;
}

/** The command line that shows the command's flags. */
export function helpCommand(command: string): string {
  const p = program();
  return p === undefined ? `npm run ${command} -- --help` : `${p} ${command} --help`;
}

/** Set by the bin before it starts a process command. */
export function setProgram(name: string): void {
  process.env[PROGRAM_ENV] = name;
}
