/** `--base POLICY`: a preset, one of the scenario's policies, or a JSON file (a full Policy, or `{ preset, overrides }`). */
import { readFile } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { ValidationError } from '../../src/errors.js';
import { PRESET_NAMES, parsePolicy, preset, resolvePolicy, type Policy, type PresetName } from '../../src/policy.js';
import { UsageError } from '../cli/flags.js';
import { policyName, resolveScenarioPolicy, type Scenario } from '../scenario.js';

/** The policy a sweep starts from, and its name in reports. */
export interface BasePolicy {
  readonly name: string;
  readonly policy: Policy;
}

/** The default base policy. */
export const DEFAULT_BASE = 'resilient';

/**
 * Resolves `--base`. A name is looked up among the presets, then the scenario's policies; anything ending in
 * `.json` (or containing a path separator) is read as a file relative to `cwd`.
 * @throws UsageError naming the flag and what was wrong (unknown name, unreadable file, invalid field).
 */
export async function resolveBase(arg: string, scenario: Scenario, cwd = process.cwd()): Promise<BasePolicy> {
  if ((PRESET_NAMES as readonly string[]).includes(arg)) return { name: arg, policy: preset(arg as PresetName) };
  const own = scenario.policies.find((p) => policyName(p) === arg);
  if (own !== undefined) return { name: arg, policy: resolveScenarioPolicy(own) };
  if (!arg.endsWith('.json') && !arg.includes('/')) {
    throw new UsageError(
      `--base: unknown policy ${JSON.stringify(arg)}; expected a preset (${PRESET_NAMES.join(', ')}), one of ${scenario.name}'s policies (${scenario.policies.map(policyName).join(', ')}) or a .json file`,
    );
  }
  const file = resolve(cwd, arg);
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw new UsageError(`--base ${arg}: expected a readable JSON file, got ${e instanceof Error ? e.message : String(e)}`);
  }
  try {
    if (json !== null && typeof json === 'object' && 'preset' in json) {
      const o = json as { preset: unknown; overrides?: unknown };
      return { name: basename(file, '.json'), policy: resolvePolicy(String(o.preset), o.overrides) };
    }
    return { name: basename(file, '.json'), policy: parsePolicy(json) };
  } catch (e) {
    if (e instanceof ValidationError) throw new UsageError(`--base ${arg}: ${e.message}`);
    throw e;
  }
}
