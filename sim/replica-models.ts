/**
 * The models one mock replica serves, from the process's options: replica 0 draws what a single mock does; replica
 * i > 0 draws its faults from its own streams below the model's (`model/NAME/replica/i`). Every replica answers a
 * request id with the same text and length (one content seed per model name), so a stream resumed on another replica
 * continues byte for byte.
 */
import { HarnessError } from '../src/errors.js';
import { Random } from '../src/random.js';
import type { Clock } from '../src/time/clock.js';
import { CliUsageError, faultsFor, faultsForReplica, type SimOptions } from './cli-options.js';
import { parseFaultPlan, planAfter } from './faults.js';
import { MockModel, type MockModelOptions } from './mock-model.js';
import { resolveProfile } from './profiles.js';

/** What {@link replicaModels} reads of the options. */
export type ReplicaModelOptions = Pick<SimOptions, 'models' | 'faults' | 'rateLimits' | 'seed' | 'coldStartMs' | 'timelineOffsetMs'>;

/**
 * The models of replica `index`, each its own simulated GPU.
 * @throws CliUsageError naming `--model` for an unknown profile; the HarnessError of a bad fault plan or rate limits.
 */
export function replicaModels(opts: ReplicaModelOptions, clock: Clock, index: number): MockModel[] {
  const root = new Random(opts.seed);
  const replicaFaults = faultsForReplica(opts.faults, index);
  return opts.models.map((spec) => {
    let profile: ReturnType<typeof resolveProfile>;
    try {
      profile = resolveProfile(spec.profile as Parameters<typeof resolveProfile>[0]);
    } catch (err) {
      if (err instanceof HarnessError) throw new CliUsageError(`--model ${spec.label}: ${err.message}`);
      throw err;
    }
    let faults = faultsFor(replicaFaults, spec.name);
    // A supervised restart: the timeline runs on the server's clock from its first start, not again from 0.
    if (faults !== undefined && opts.timelineOffsetMs > 0) faults = planAfter(parseFaultPlan(faults), opts.timelineOffsetMs);
    const own = root.derive(`model/${spec.name}`);
    const o: MockModelOptions = {
      name: spec.name,
      profile,
      clock,
      random: index === 0 ? own : own.derive(`replica/${index}`),
      textSeed: `${String(own.seed)}/${own.path}`,
      ...(faults !== undefined ? { faults: faults as MockModelOptions['faults'] } : {}),
      ...(opts.rateLimits !== undefined ? { rateLimits: opts.rateLimits as MockModelOptions['rateLimits'] } : {}),
      ...(opts.coldStartMs > 0 ? { coldStartMs: opts.coldStartMs } : {}),
    };
    return new MockModel(o);
  });
}
