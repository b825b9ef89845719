/**
 * The commander plumbing shared by `npm run serve` and `npm run worker`: integer flags with messages naming the
 * flag, and parsing that returns the help text instead of exiting, turning every mistake into one usage error.
 */
import { CommanderError, InvalidArgumentError, type Command } from 'commander';

/** A flag parser for an integer in [min, max]; the error names the flag, the range and the value. */
export function intArg(flag: string, min: number, max: number): (value: string) => number {
  return (value) => {
    if (!/^\d+$/.test(value.trim()) || Number(value) < min || Number(value) > max) {
      throw new InvalidArgumentError(`${flag}: expected an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
    }
    return Number(value);
  };
}

/**
 * Parses `argv` (without node and script) with `program`. Returns `{ help }` when --help was asked for, else
 * undefined (read `program.opts()`). A commander error becomes `usage(message)`, without commander's prefixes.
 */
export function parseCommand(program: Command, argv: readonly string[], usage: (message: string) => Error): { help: string } | undefined {
  let out = '';
  program.exitOverride().configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => (out += s) });
  try {
    program.parse([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help') return { help: out };
      throw usage(err.message.replace(/^error: /, '').replace(/^option '([^']+)' argument '[^']*' is invalid\. /, ''));
    }
    throw err;
  }
  return undefined;
}
