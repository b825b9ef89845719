/** Finding and loading scenario files: one typed file per scenario in `scenarios/`. */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { UsageError } from '../cli/flags.js';
import { validateScenario, type Scenario } from '../scenario.js';

/** The repository's `scenarios/` folder. */
export const SCENARIOS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'scenarios');

/** Names of the shipped scenarios, sorted. */
export function listScenarioNames(dir = SCENARIOS_DIR): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
    .map((f) => f.slice(0, -3))
    .sort();
}

/**
 * Loads and validates scenario `name`.
 * @throws UsageError for an unknown name; ValidationError naming the field for a bad scenario.
 */
export async function loadScenario(name: string, dir = SCENARIOS_DIR): Promise<Scenario> {
  const names = listScenarioNames(dir);
  if (!names.includes(name)) throw new UsageError(`unknown scenario ${JSON.stringify(name)}; expected one of ${names.join(', ')}`);
  const mod = (await import(pathToFileURL(join(dir, `${name}.ts`)).href)) as { default?: unknown };
  if (mod.default === undefined) throw new UsageError(`scenarios/${name}.ts: expected a default export made with defineScenario, got none`);
  return validateScenario(mod.default);
}
