/**
 * Ready-made mix classes and workloads, for scenarios and examples. Token shapes are rough fits to the Azure 2023
 * conversation trace (prompt median ~1,000, output median ~130, both heavy-tailed) scaled to a laptop run.
 */
import { bounded } from './dist.js';
import type { MixEntry, SyntheticWorkload } from './spec.js';

/** Short interactive chat: one request, modest prompt and answer. */
export const SHORT_CHAT: MixEntry = {
  name: 'chat',
  weight: 1,
  kind: 'single',
  promptTokens: bounded({ kind: 'lognormal', median: 400, sigma: 0.8 }, 16, 8000),
  outputTokens: bounded({ kind: 'lognormal', median: 130, sigma: 0.8 }, 8, 1000),
};

/** A long generation: exactly 5,000 output tokens. */
export const LONG_GENERATION: MixEntry = {
  name: 'long-gen',
  weight: 1,
  kind: 'single',
  promptTokens: bounded({ kind: 'lognormal', median: 600, sigma: 0.5 }, 32, 4000),
  outputTokens: 5000,
};

/** Offline batch work: priority 'batch', batchable. */
export const BATCH_JOB: MixEntry = {
  name: 'batch',
  weight: 1,
  kind: 'single',
  priority: 'batch',
  batchable: true,
  promptTokens: bounded({ kind: 'lognormal', median: 1000, sigma: 0.6 }, 32, 8000),
  outputTokens: bounded({ kind: 'lognormal', median: 200, sigma: 0.6 }, 8, 2000),
};

/** A closed-loop conversation of 2 to 6 turns with a few seconds of think time. */
export const MULTI_TURN_CHAT: MixEntry = {
  name: 'multi-turn',
  weight: 1,
  kind: 'multi-turn',
  turns: { kind: 'uniform', min: 2, max: 6 },
  thinkTimeMs: bounded({ kind: 'lognormal', median: 4000, sigma: 0.6 }, 500, 30_000),
  systemPromptTokens: 200,
  userTokens: bounded({ kind: 'lognormal', median: 80, sigma: 0.7 }, 4, 2000),
  outputTokens: bounded({ kind: 'lognormal', median: 150, sigma: 0.7 }, 8, 1000),
  maxContextTokens: 16_000,
};

/** A planner, 2 to 6 parallel retrievers (batchable embeddings), then a summarizer. */
export const AGENT: MixEntry = {
  name: 'agent',
  weight: 1,
  kind: 'agent',
  planner: { promptTokens: bounded({ kind: 'lognormal', median: 500, sigma: 0.4 }, 50), outputTokens: { kind: 'uniform', min: 40, max: 120 } },
  retrievers: { kind: 'uniform', min: 2, max: 6 },
  retriever: { inputs: { kind: 'uniform', min: 1, max: 4 }, inputTokens: { kind: 'uniform', min: 16, max: 256 }, retrievedTokens: { kind: 'uniform', min: 200, max: 800 } },
  summarizer: { promptTokens: 150, outputTokens: bounded({ kind: 'lognormal', median: 250, sigma: 0.5 }, 20, 1500) },
};

/** `entry` with another weight. */
export function weighted(entry: MixEntry, weight: number): MixEntry {
  return { ...entry, weight };
}

/**
 * burst-1000: 1,000 sessions arriving within 2 s; mostly short chat, about 10% agent sessions, some 5,000-token
 * generations, some multi-turn conversations and batch jobs.
 */
export const BURST_1000_WORKLOAD: SyntheticWorkload = {
  arrivals: { kind: 'burst', sessions: 1000, withinMs: 2000 },
  mix: [weighted(SHORT_CHAT, 0.62), weighted(MULTI_TURN_CHAT, 0.15), weighted(AGENT, 0.1), weighted(LONG_GENERATION, 0.05), weighted(BATCH_JOB, 0.08)],
};
