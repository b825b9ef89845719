/**
 * Hardware/model profiles of the mock GPU: scheduler limits (vLLM defaults), KV-cache budget and a step-time
 * model fitted to published measurements (../shared/data/calibration; `sim/calibration.ts` refits and reports
 * the error of every profile against them).
 *
 * Step time (ms) = overheadMs + mlp(batchedTokens) + attentionMsPerContextToken × contextTokens, where
 * mlp(n) = baseMs + perTokenMs × max(0, n − flatTokens): flat while the step is bound by reading the weights,
 * then linear once it is compute-bound. The attention term is the decode KV read: bytes per token over HBM
 * bandwidth at a realistic kernel efficiency.
 */
import { z } from 'zod';
import { ValidationError } from '../src/errors.js';
import { distributionSpecSchema, parseOrThrow, type DistributionSpec } from './distributions.js';

/** The step-time model of a profile. */
export interface StepTimeModel {
  /** Non-attention time of a step with up to `flatTokens` batched tokens (the weight-read floor), ms. */
  readonly baseMs: number;
  /** Batched tokens up to which the non-attention time stays flat. */
  readonly flatTokens: number;
  /** Extra non-attention time per batched token above `flatTokens`, ms. */
  readonly perTokenMs: number;
  /** Attention time per token of context attended in the step (KV read), ms. */
  readonly attentionMsPerContextToken: number;
  /** Per-step overhead: scheduling, sampling, LM head, kernel launches, ms. */
  readonly overheadMs: number;
  /**
   * Prefill attention compute per (new token × context token it attends to), ms: the quadratic term that dominates
   * long-context prefill (QKᵀ and PV: 4 × hidden × layers FLOPs per pair). @default 0 (negligible below ~8k)
   */
  readonly prefillAttentionMsPerTokenPair?: number;
}

/** The cost of one embeddings call on the GPU: one forward pass over all inputs. */
export interface EmbeddingCost {
  /** Fixed cost of a call (a forward pass reads all the weights whatever the batch), ms. */
  readonly perCallMs: number;
  /** Cost of each input (pooling, normalisation, serialisation), ms. */
  readonly perItemMs: number;
  /** Cost of each input token (compute-bound prefill), ms. */
  readonly perTokenMs: number;
  /** Length of the synthetic embedding vectors. */
  readonly dimensions: number;
}

/** A hardware/model profile. Every field is required here; `resolveProfile` fills overrides from a base. */
export interface GpuProfile {
  readonly name: string;
  readonly description: string;
  /** Most sequences running at once (vLLM `max_num_seqs`). */
  readonly maxNumSeqs: number;
  /** Token budget of one step (vLLM `max_num_batched_tokens`, chunked prefill). */
  readonly maxBatchedTokens: number;
  /** Tokens per KV-cache block (vLLM `block_size`). */
  readonly kvBlockTokens: number;
  /** KV-cache blocks available on the GPU. */
  readonly kvBlocks: number;
  /** Most sequences waiting for a slot; beyond it requests are refused (429 or 503, see the fault plan). */
  readonly maxWaiting: number;
  /** Context window: prompt + max_tokens must fit (vLLM `max_model_len`). */
  readonly contextWindow: number;
  readonly step: StepTimeModel;
  /** Output length when the request does not fix it, in tokens (capped by max_tokens and the context window). */
  readonly outputTokens: DistributionSpec;
  readonly embedding: EmbeddingCost;
  /**
   * Automatic prefix caching (vLLM V1's default): prompt blocks already in the KV pool are not prefilled again.
   * Off, every prompt is prefilled in full (`--no-enable-prefix-caching`). @default true
   */
  readonly prefixCaching?: boolean;
}

/**
 * Step time in ms for a step of `batchedTokens` tokens attending to `contextTokens` tokens of context in all, with
 * `attentionPairs` (new token, context token) pairs of prefill attention (used when the model prices them).
 */
export function stepMs(model: StepTimeModel, batchedTokens: number, contextTokens: number, attentionPairs = 0): number {
  const over = batchedTokens > model.flatTokens ? batchedTokens - model.flatTokens : 0;
  const prefill = model.prefillAttentionMsPerTokenPair === undefined ? 0 : model.prefillAttentionMsPerTokenPair * attentionPairs;
  return model.overheadMs + model.baseMs + model.perTokenMs * over + model.attentionMsPerContextToken * contextTokens + prefill;
}

/** Embedding call cost in ms for `items` inputs of `tokens` tokens in all. */
export function embeddingMs(cost: EmbeddingCost, items: number, tokens: number): number {
  return cost.perCallMs + cost.perItemMs * items + cost.perTokenMs * tokens;
}

/**
 * KV-cache blocks that fit, the way vLLM sizes them: `utilization` of HBM, minus weights and the activation
 * reserve, divided by the bytes of one block.
 */
export function kvBlocksFor(o: {
  hbmGiB: number;
  utilization: number;
  weightsGiB: number;
  activationGiB: number;
  kvBytesPerToken: number;
  blockTokens: number;
}): number {
  const freeBytes = (o.hbmGiB * o.utilization - o.weightsGiB - o.activationGiB) * 2 ** 30;
  return Math.floor(freeBytes / (o.kvBytesPerToken * o.blockTokens));
}

/** KV bytes per token of Llama-3-8B: 32 layers × 8 KV heads × 128 dims × 2 (K and V) × 2 bytes = 128 KiB. */
const LLAMA3_8B_KV_BYTES = 32 * 8 * 128 * 2 * 2;
/** KV bytes per token of Llama-3.2-1B: 16 layers × 8 KV heads × 64 dims × 2 × 2 bytes = 32 KiB. */
const LLAMA32_1B_KV_BYTES = 16 * 8 * 64 * 2 * 2;
/** Share of peak HBM bandwidth a paged-attention decode kernel achieves (an assumption, typical of published kernels). */
const ATTENTION_BW_EFFICIENCY = 0.7;
/** Llama-3-8B bf16 weights: 8.03e9 parameters × 2 bytes. */
const LLAMA3_8B_WEIGHTS_GIB = (8.03e9 * 2) / 2 ** 30;

/**
 * Output lengths of chat traffic: lognormal, median 150 tokens, sigma 0.9 (mean ≈ 225). An approximation of the
 * ShareGPT output-length distribution used by vLLM's serving benchmark (mean ≈ 200–250 tokens, long right tail);
 * it is not fitted to the calibration tables, which fix lengths.
 */
const CHAT_OUTPUT: DistributionSpec = { kind: 'lognormal', median: 150, sigma: 0.9 };

/**
 * H100-80GB SXM serving Llama-3-8B (bf16, TP 1) under vLLM defaults.
 * - baseMs 5.70, flatTokens 88, perTokenMs 0.01754: least-squares fit (relative error) of the piecewise-linear mlp()
 *   to Vidur's H100 Llama-2-7B non-attention step table, knee searched in steps of 8 (`fitMlp` in calibration.ts).
 * - attentionMsPerContextToken: 128 KiB / 3.35 TB/s / 0.7 = 5.59e-5 ms (physics, not fitted).
 * - overheadMs 2.43: fitted so that simulated NeMo runs (128 in, 20 out, batch 1–8) match on average
 *   (`fitOverhead` in calibration.ts, weighted least squares on relative error).
 * - kvBlocks: 90% of 79.6 GiB, minus 14.96 GiB of weights and a 4 GiB activation reserve, in 16-token blocks of 128 KiB/token.
 */
const H100_LLAMA3_8B: GpuProfile = {
  name: 'h100-llama3-8b',
  description: 'H100-80GB, Llama-3-8B bf16, TP1, vLLM defaults (calibrated against Vidur and NeMo tables)',
  maxNumSeqs: 256,
  maxBatchedTokens: 8192,
  kvBlockTokens: 16,
  kvBlocks: kvBlocksFor({
    hbmGiB: 79.6,
    utilization: 0.9,
    weightsGiB: LLAMA3_8B_WEIGHTS_GIB,
    activationGiB: 4,
    kvBytesPerToken: LLAMA3_8B_KV_BYTES,
    blockTokens: 16,
  }),
  maxWaiting: 1024,
  contextWindow: 8192,
  step: {
    baseMs: 5.7,
    flatTokens: 88,
    perTokenMs: 0.01754,
    attentionMsPerContextToken: LLAMA3_8B_KV_BYTES / 3.35e12 / ATTENTION_BW_EFFICIENCY * 1000,
    overheadMs: 2.43,
  },
  outputTokens: CHAT_OUTPUT,
  // An embeddings call is one prefill-only forward pass: the weight-read floor plus overhead, then per token.
  embedding: { perCallMs: 5.7 + 2.43, perItemMs: 0.02, perTokenMs: 0.01754, dimensions: 16 },
};

/**
 * A100-80GB SXM serving Llama-3-8B. Derived as for H100 from the A100 rows: mlp() fit gives baseMs 9.65,
 * flatTokens 104, perTokenMs 0.0609; attention 128 KiB / 2.04 TB/s / 0.7; overhead fitted to NeMo A100 = 2.56 ms.
 * Same HBM size, so the same KV budget.
 */
const A100_LLAMA3_8B: GpuProfile = {
  ...H100_LLAMA3_8B,
  name: 'a100-llama3-8b',
  description: 'A100-80GB, Llama-3-8B bf16, TP1, vLLM defaults (calibrated against Vidur and NeMo tables)',
  step: {
    baseMs: 9.65,
    flatTokens: 104,
    perTokenMs: 0.0609,
    attentionMsPerContextToken: LLAMA3_8B_KV_BYTES / 2.04e12 / ATTENTION_BW_EFFICIENCY * 1000,
    overheadMs: 2.56,
  },
  embedding: { perCallMs: 9.65 + 2.56, perItemMs: 0.02, perTokenMs: 0.0609, dimensions: 16 },
};

/**
 * A small fast fallback: Llama-3.2-1B on an H100. Not calibrated against a table (none is published here): the
 * weight-read floor scales with weight bytes (2.47 GB / 3.35 TB/s / 0.85 ≈ 0.87 ms, the same efficiency the
 * 8B fit implies: 16.06 GB / 3.35 TB/s / 5.7 ms ≈ 0.84), the compute slope with parameters (0.01754 × 1.24/8.03),
 * attention with KV bytes (32 KiB/token), and overhead is kept at the 8B value's order (1.5 ms; smaller LM head).
 * It has more KV room and a longer window, so routers can send long prompts there.
 */
const FALLBACK: GpuProfile = {
  name: 'fallback',
  description: 'small fast fallback model (Llama-3.2-1B class on H100), derived by scaling the 8B fit',
  maxNumSeqs: 256,
  maxBatchedTokens: 8192,
  kvBlockTokens: 16,
  kvBlocks: kvBlocksFor({
    hbmGiB: 79.6,
    utilization: 0.9,
    weightsGiB: (1.24e9 * 2) / 2 ** 30,
    activationGiB: 4,
    kvBytesPerToken: LLAMA32_1B_KV_BYTES,
    blockTokens: 16,
  }),
  maxWaiting: 1024,
  contextWindow: 32768,
  step: {
    baseMs: 0.87,
    flatTokens: 88,
    perTokenMs: (0.01754 * 1.24) / 8.03,
    attentionMsPerContextToken: LLAMA32_1B_KV_BYTES / 3.35e12 / ATTENTION_BW_EFFICIENCY * 1000,
    overheadMs: 1.5,
  },
  outputTokens: CHAT_OUTPUT,
  embedding: { perCallMs: 0.87 + 1.5, perItemMs: 0.02, perTokenMs: (0.01754 * 1.24) / 8.03, dimensions: 16 },
};

/** Llama-3.x-8B attention FLOPs per (new token, context token) pair: QKᵀ and PV, 2 × 2 × 4,096 hidden × 32 layers. */
const LLAMA3_8B_ATTENTION_FLOPS_PER_PAIR = 4 * 4096 * 32;
/** Share of dense bf16 peak a FlashAttention prefill kernel sustains (an assumption; FA2/FA3 report 50–75%). */
const PREFILL_ATTENTION_EFFICIENCY = 0.5;

/**
 * Llama-3.1-8B with its 128k window (131,072 tokens, `max_model_len` left at the model's), on H100 and A100: the
 * same weights and KV layout as Llama-3-8B, so the same fitted step model and KV budget (about 430k tokens of KV:
 * three full windows), plus the quadratic prefill-attention term that long prompts make dominant
 * (989 TFLOPS H100 / 312 TFLOPS A100 dense bf16 at 50%): a 128k prompt prefills in about 9 s on H100, 29 s on A100.
 */
function longContext(base: GpuProfile, name: string, peakTflops: number, gpu: string): GpuProfile {
  return {
    ...base,
    name,
    description: `${gpu}, Llama-3.1-8B bf16 with its 128k context window, TP1, vLLM defaults (step model of the 8B fit plus prefill attention)`,
    contextWindow: 131_072,
    step: { ...base.step, prefillAttentionMsPerTokenPair: (LLAMA3_8B_ATTENTION_FLOPS_PER_PAIR / (peakTflops * 1e12 * PREFILL_ATTENTION_EFFICIENCY)) * 1000 },
  };
}
const H100_LLAMA31_8B_128K = longContext(H100_LLAMA3_8B, 'h100-llama3.1-8b-128k', 989, 'H100-80GB');
const A100_LLAMA31_8B_128K = longContext(A100_LLAMA3_8B, 'a100-llama3.1-8b-128k', 312, 'A100-80GB');

/** The built-in profiles by name. */
export const PROFILES: Readonly<Record<string, GpuProfile>> = {
  [H100_LLAMA3_8B.name]: H100_LLAMA3_8B,
  [A100_LLAMA3_8B.name]: A100_LLAMA3_8B,
  [H100_LLAMA31_8B_128K.name]: H100_LLAMA31_8B_128K,
  [A100_LLAMA31_8B_128K.name]: A100_LLAMA31_8B_128K,
  [FALLBACK.name]: FALLBACK,
};

/** Names of the built-in profiles. */
export const PROFILE_NAMES = Object.keys(PROFILES) as readonly string[];

/** The profile used when none is named. @default 'h100-llama3-8b' */
export const DEFAULT_PROFILE = 'h100-llama3-8b';

/** A built-in profile by name; the error lists the known names. */
export function getProfile(name: string): GpuProfile {
  const p = PROFILES[name];
  if (p === undefined) throw new ValidationError('profile', `one of ${PROFILE_NAMES.join(', ')}`, name);
  return p;
}

const posInt = z.number().int().positive();
const nonNeg = z.number().nonnegative();

/** Overrides of a profile: any field, the nested ones partially. */
export const profileOverridesSchema = z
  .object({
    base: z.string().optional(),
    name: z.string().min(1).optional(),
    description: z.string().optional(),
    maxNumSeqs: posInt.optional(),
    maxBatchedTokens: posInt.optional(),
    kvBlockTokens: posInt.optional(),
    kvBlocks: posInt.optional(),
    maxWaiting: z.number().int().nonnegative().optional(),
    contextWindow: posInt.optional(),
    prefixCaching: z.boolean().optional(),
    step: z
      .object({
        baseMs: nonNeg.optional(),
        flatTokens: nonNeg.optional(),
        perTokenMs: nonNeg.optional(),
        attentionMsPerContextToken: nonNeg.optional(),
        overheadMs: nonNeg.optional(),
        prefillAttentionMsPerTokenPair: nonNeg.optional(),
      })
      .strict()
      .optional(),
    outputTokens: distributionSpecSchema.optional(),
    embedding: z
      .object({ perCallMs: nonNeg.optional(), perItemMs: nonNeg.optional(), perTokenMs: nonNeg.optional(), dimensions: posInt.optional() })
      .strict()
      .optional(),
  })
  .strict();

/** Overrides of a built-in profile: `{ base: 'a100-llama3-8b', kvBlocks: 64 }`. */
export type ProfileOverrides = z.input<typeof profileOverridesSchema>;

/**
 * A profile from a name, a full profile, or overrides of a base (`base` defaults to {@link DEFAULT_PROFILE}).
 * Overrides are validated; an error names the field, e.g. `profile.step.baseMs`.
 */
export function resolveProfile(input: string | GpuProfile | ProfileOverrides): GpuProfile {
  if (typeof input === 'string') return getProfile(input);
  if (isFullProfile(input)) return input;
  const o = parseOrThrow(profileOverridesSchema, input, 'profile');
  const base = getProfile(o.base ?? DEFAULT_PROFILE);
  const { base: _base, step, embedding, ...rest } = o;
  const merged: GpuProfile = {
    ...base,
    ...stripUndefined(rest),
    name: o.name ?? `${base.name}*`,
    step: { ...base.step, ...stripUndefined(step ?? {}) },
    embedding: { ...base.embedding, ...stripUndefined(embedding ?? {}) },
  };
  if (merged.contextWindow > merged.kvBlocks * merged.kvBlockTokens) {
    throw new ValidationError(
      'profile.kvBlocks',
      `at least ${Math.ceil(merged.contextWindow / merged.kvBlockTokens)} blocks (one full context window must fit)`,
      merged.kvBlocks,
    );
  }
  return merged;
}

function isFullProfile(p: object): p is GpuProfile {
  const x = p as Partial<GpuProfile>;
  return typeof x.name === 'string' && typeof x.step === 'object' && typeof x.embedding === 'object' && x.outputTokens !== undefined
    && typeof x.kvBlocks === 'number' && typeof x.maxNumSeqs === 'number' && typeof x.contextWindow === 'number'
    && typeof x.maxBatchedTokens === 'number' && typeof x.kvBlockTokens === 'number' && typeof x.maxWaiting === 'number';
}

function stripUndefined<T extends object>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out as { [K in keyof T]: Exclude<T[K], undefined> };
}
