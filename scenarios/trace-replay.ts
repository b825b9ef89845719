import { defineScenario } from '../harness/index.js';

/**
 * Replays real production arrivals: the first 2 minutes of the Azure LLM inference trace 2023 (conversation),
 * compressed 4× into 30 s (about 15 req/s), with each row's real prompt and answer lengths (prompt mean ~1,150
 * tokens, answer mean ~210, long-tailed). Source: Azure/AzurePublicDataset, Splitwise (Patel et al., ISCA 2024),
 * CC-BY-4.0; see ../shared/data/traces/README.md.
 *
 * What it shows: how each policy copes with real, unsmoothed arrival and length variation on the H100 profile,
 * without faults. The GPU is far from full (TTFT p99 well under a second): the trace's long answers keep requests
 * in flight for seconds, but fewer than the 256 slots the engine's default limit allows.
 * `--trace PATH` replays another file (Azure, Mooncake, BurstGPT or ShareGPT, recognised by content), with
 * `--trace-speed X` and `--trace-window START..END` (trace time) to choose the part and the pace; the report then
 * names the file, its format, the window and the speed. The model is Llama-3.1-8B with its 128k window, so long
 * prompts replay; prompts longer than the window are refused (`context_length_exceeded`) or trimmed by policy.
 */
export default defineScenario({
  name: 'trace-replay',
  description: 'Azure 2023 conversation trace, first 2 min replayed 4x faster (~15 req/s) with real prompt/answer lengths, no faults',
  seed: 1,
  durationMs: 30_000,
  takesTrace: true,
  // Relative paths resolve from the repository root.
  workload: { trace: { path: '../shared/data/traces/azure-2023-conv.csv', speedup: 4, durationMs: 120_000, class: 'conv' } },
  model: {
    // Priced as a small hosted model (a sheet of harness/cost/price-sheets.ts); cost columns read in its dollars.
    price: 'openai/gpt-4o-mini',
    // The 128k-window profile, so a long-context trace (Mooncake, BurstGPT) replays without refusals at 8k.
    profile: 'h100-llama3.1-8b-128k',
  },
  policies: ['naive', 'bounded', 'resilient', 'adaptive'],
  slo: { ttftMs: 1_000, e2eMs: 30_000 },
});
