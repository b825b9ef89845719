/**
 * The OpenAI embeddings response (`{ data: [{ index, embedding }], usage: { prompt_tokens } }`) as an
 * EmbeddingResult. The API reports tokens for the whole call only, so each item's share is the request's own
 * count when given, else the call's total split in proportion to an estimate of about 4 characters a token.
 */
import type { EmbeddingItem, EmbeddingRequest, EmbeddingResult } from './model-client.js';

/** About 4 characters a token, at least 1 for non-empty text: the common rule of thumb for English text. */
export function estimateTokens(text: string): number {
  return text.length === 0 ? 0 : Math.max(1, Math.ceil(text.length / 4));
}

/** Splits `total` into integer shares proportional to `weights` (largest remainder), summing exactly to `total`. */
export function splitProportionally(total: number, weights: readonly number[]): number[] {
  const sum = weights.reduce((a, b) => a + b, 0);
  if (weights.length === 0) return [];
  if (sum <= 0) return weights.map((_, i) => (i === 0 ? total : 0));
  const exact = weights.map((w) => (w / sum) * total);
  const out = exact.map(Math.floor);
  let left = total - out.reduce((a, b) => a + b, 0);
  const order = exact.map((x, i) => ({ i, r: x - Math.floor(x) })).sort((a, b) => b.r - a.r || a.i - b.i);
  for (let k = 0; left > 0 && k < order.length; k++, left--) out[(order[k] as { i: number }).i]! += 1;
  return out;
}

/** The result of an embeddings response body, or a string saying what was malformed. */
export function embeddingItems(text: string, request: EmbeddingRequest): EmbeddingResult | string {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return `expected JSON, got ${JSON.stringify(text.slice(0, 60))}`;
  }
  const data = (body as { data?: unknown } | null)?.data;
  if (!Array.isArray(data)) return 'expected a data array';
  const vectors: Array<readonly number[] | undefined> = new Array<readonly number[] | undefined>(request.inputs.length);
  for (const d of data as unknown[]) {
    const { index, embedding } = (d ?? {}) as { index?: unknown; embedding?: unknown };
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= vectors.length) {
      return `expected data[].index from 0 to ${vectors.length - 1}, got ${JSON.stringify(index)}`;
    }
    if (!Array.isArray(embedding) || !(embedding as unknown[]).every((x) => typeof x === 'number')) {
      return `expected data[${index}].embedding to be an array of numbers`;
    }
    vectors[index] = embedding as number[];
  }
  const missing = vectors.findIndex((v) => v === undefined);
  if (missing >= 0) return `expected ${vectors.length} embeddings, input ${missing} has none`;
  const usage = (body as { usage?: { prompt_tokens?: unknown } }).usage?.prompt_tokens;
  const estimates = request.inputs.map((t, i) => request.inputTokens?.[i] ?? estimateTokens(t));
  const total = typeof usage === 'number' && Number.isInteger(usage) && usage >= 0 ? usage : estimates.reduce((a, b) => a + b, 0);
  const shares = request.inputTokens !== undefined ? estimates : splitProportionally(total, estimates);
  const items: EmbeddingItem[] = vectors.map((v, i) => ({ ok: true, embedding: v as readonly number[], tokens: shares[i] ?? 0 }));
  return { items, usage: { promptTokens: total } };
}
