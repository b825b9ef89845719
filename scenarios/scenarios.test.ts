import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { PolicyResult } from '../harness/measure/result.js';
import { runPolicyVirtual } from '../harness/run/virtual.js';
import { listScenarioNames, SCENARIOS_DIR } from '../harness/run/scenarios.js';
import { policyName, validateScenario, type Scenario } from '../harness/scenario.js';
import batchEmbeddings from './batch-embeddings.js';
import midStreamDisconnects from './mid-stream-disconnects.js';
import rateLimit429 from './rate-limit-429.js';
import retryStorm from './retry-storm.js';

const REPO_ROOT = resolve(SCENARIOS_DIR, '..');

async function loadDefault(name: string): Promise<unknown> {
  const mod = (await import(pathToFileURL(join(SCENARIOS_DIR, `${name}.ts`)).href)) as { default?: unknown };
  return mod.default;
}

/** One policy of `scenario`, by name, in virtual time (optionally with a shorter arrival window). */
async function run(scenario: Scenario, name: string, durationMs = scenario.durationMs): Promise<PolicyResult> {
  const policy = scenario.policies.find((p) => policyName(p) === name);
  if (policy === undefined) throw new Error(`${scenario.name} has no policy ${name}`);
  const r = await runPolicyVirtual({ scenario, policy, seed: scenario.seed, durationMs, baseDir: REPO_ROOT });
  return r.result;
}

describe('scenario files', () => {
  const names = listScenarioNames();

  it('include the shipped set', () => {
    for (const n of ['steady-poisson', 'retry-storm', 'rate-limit-429', 'mid-stream-disconnects', 'crash-recovery', 'brownout-fallback', 'batch-embeddings', 'trace-replay']) {
      expect(names).toContain(n);
    }
  });

  it.each(names)('%s: validates, is named after its file and compares at least two policies', async (file) => {
    const s = validateScenario(await loadDefault(file));
    expect(s.name).toBe(file);
    expect(s.description.length).toBeGreaterThan(20);
    expect(s.policies.length).toBeGreaterThanOrEqual(2);
    expect(new Set(s.policies.map(policyName)).size).toBe(s.policies.length);
  });

  it('have unique names', async () => {
    const declared = await Promise.all(names.map(async (n) => validateScenario(await loadDefault(n)).name));
    expect(new Set(declared).size).toBe(declared.length);
  });

  it('put the CI regression scenarios in the regression set', async () => {
    for (const n of ['steady-poisson', 'retry-storm', 'rate-limit-429', 'crash-recovery', 'brownout-fallback', 'mid-stream-disconnects', 'batch-embeddings']) {
      const s = validateScenario(await loadDefault(n));
      expect(s.regress, n).toBeDefined();
    }
  });

  it('trace-replay takes --trace and its default trace exists relative to the repository root', async () => {
    const s = validateScenario(await loadDefault('trace-replay'));
    expect(s.takesTrace).toBe(true);
    if (!('trace' in s.workload)) throw new Error('trace-replay: expected a trace workload');
    expect(existsSync(resolve(REPO_ROOT, s.workload.trace.path))).toBe(true);
  });
});

describe('retry-storm', () => {
  const s = validateScenario(retryStorm);

  it('naive stays degraded after the brownout ends (metastable) while resilient recovers', async () => {
    // 50 s of arrivals: 25 s of them after the 10 s brownout ends at 25 s.
    const [naive, resilient] = await Promise.all([run(s, 'naive', 50_000), run(s, 'resilient', 50_000)]);
    const n = naive.summary.recovery[0];
    const r = resilient.summary.recovery[0];
    expect(n?.status).toBe('metastable');
    expect(r?.status).toBe('recovered');
    // The mechanism, not only the verdict: naive's cut streams are restarted from scratch, resilient resumes.
    expect(naive.summary.amplification).toBeGreaterThan(1.5);
    expect(naive.summary.wastedTokenFraction).toBeGreaterThan(0.2);
    expect(resilient.summary.wastedTokenFraction).toBeLessThan(0.01);
  });

  it('with prefix caching on, identical retried prompts skip their prefill and naive recovers at this load', async () => {
    const cached = validateScenario({ ...s, model: { ...s.model, profile: 'h100-llama3-8b' } });
    const naive = await run(cached, 'naive', 50_000);
    expect(naive.summary.prefixCacheHitRate ?? 0).toBeGreaterThan(0.1);
    expect(naive.summary.recovery[0]?.status).toBe('recovered');
  });

  it('is harmless without the trigger: at this load the gateway cuts nothing and naive wastes nothing', async () => {
    const calm = validateScenario({ ...s, model: { ...s.model, faults: { ...s.model.faults, timeline: [] } } });
    const naive = await run(calm, 'naive', 30_000);
    expect(naive.counters.wastedTokens).toBe(0);
    expect(naive.summary.amplification).toBe(1);
    expect(naive.summary.okFraction).toBe(1);
  });
});

describe('mid-stream-disconnects', () => {
  const s = validateScenario(midStreamDisconnects);

  it('resume wastes fewer tokens and finishes sooner than restart', async () => {
    const [resume, restart] = await Promise.all([run(s, 'resilient', 20_000), run(s, 'resilient-restart', 20_000)]);
    expect(restart.counters.wastedTokens).toBeGreaterThan(1000);
    expect(resume.counters.wastedTokens ?? Infinity).toBeLessThan((restart.counters.wastedTokens ?? 0) / 10);
    expect(resume.summary.e2eMs.p99 ?? Infinity).toBeLessThan(restart.summary.e2eMs.p99 ?? 0);
    // Same arrivals, every request answered in both.
    expect(resume.summary.requests).toBe(restart.summary.requests);
  });
});

describe('batch-embeddings', () => {
  const s = validateScenario(batchEmbeddings);

  it('the batcher makes fewer upstream calls for the same requests', async () => {
    const [batched, unbatched] = await Promise.all([run(s, 'resilient', 10_000), run(s, 'resilient-no-batch', 10_000)]);
    expect(batched.summary.requests).toBe(unbatched.summary.requests);
    expect(unbatched.summary.amplification).toBe(1);
    expect(batched.counters.upstreamCalls).toBeLessThan(unbatched.counters.upstreamCalls * 0.75);
  });
});

describe('rate-limit-429', () => {
  const s = validateScenario(rateLimit429);

  it('naive collects 429s; pacing at the provider\'s limits avoids nearly all of them', async () => {
    const [naive, paced] = await Promise.all([run(s, 'naive'), run(s, 'resilient-paced')]);
    expect(naive.counters.rateLimited).toBeGreaterThan(naive.summary.requests / 2);
    expect(paced.counters.rateLimited).toBeLessThan(naive.counters.rateLimited / 20);
    expect(paced.summary.amplification ?? Infinity).toBeLessThan(1);
  });
});
