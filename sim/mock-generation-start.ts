/**
 * Starting an admitted generation: a GenerationStream (sim/generation.ts) submitted to the GPU, tracked while
 * open, and accounted for when it ends (completion, waste, a `request-done` event with its latencies).
 */
import type { Clock } from '../src/time/clock.js';
import type { BillBook } from './billing.js';
import type { RequestFaults } from './faults.js';
import { GenerationStream, type GenerationEnd } from './generation.js';
import type { Gpu, SeqHandle } from './gpu.js';
import type { ModelEvents } from './mock-model-events.js';
import type { SizedRequest } from './mock-admission.js';

/** What a generation needs of its model. */
export interface GenerationHost {
  readonly clock: Clock;
  readonly gpu: Gpu;
  readonly events: ModelEvents;
  /** Generations not yet ended (some may be past the GPU, still delivering). */
  readonly open: Set<GenerationStream>;
  /** Where each generation's bill goes when it ends. */
  readonly bills: BillBook;
  /** The served model name, on every bill. */
  readonly name: string;
}

/** Starts generating tokens `startIndex` to `size.endIndex` of request `id`, received at `startMs`. */
export function startGeneration(
  host: GenerationHost,
  id: string,
  size: SizedRequest,
  startIndex: number,
  f: RequestFaults,
  signal: AbortSignal,
  startMs: number,
): GenerationStream {
  const { clock, gpu, events, open } = host;
  const { key, promptTokens, endIndex, finishReason } = size;
  const ref: { handle?: SeqHandle } = {};
  const stream = new GenerationStream(
    clock,
    {
      key,
      startIndex,
      endIndex,
      promptTokens,
      finishReason,
      ttftDelayMs: f.ttftDelayMs,
      jitterMs: f.jitterMs,
      disconnect: f.disconnect,
      stall: f.stall,
      recordItl: events.listening,
      cachedTokens: () => ref.handle?.cachedTokens ?? 0,
    },
    signal,
    (end: GenerationEnd) => {
      open.delete(stream);
      if (end.outcome === 'stop' || end.outcome === 'length') events.completed++;
      else ref.handle?.abort();
      if (end.outcome === 'disconnect') events.count('disconnect', id);
      gpu.recordWaste(end.undelivered);
      const completed = end.outcome === 'stop' || end.outcome === 'length';
      // A call cancelled (or crashed) while still queued never ran: nothing to bill.
      if (completed || ref.handle?.queueMs !== undefined) {
        const inputTokens = promptTokens + startIndex;
        host.bills.bill({
          id,
          model: host.name,
          kind: 'generate',
          startMs,
          endMs: end.endMs,
          inputTokens,
          cachedInputTokens: Math.min(inputTokens, ref.handle?.cachedTokens ?? 0),
          outputTokens: Math.max(0, end.computedTo - startIndex),
          deliveredTokens: Math.max(0, end.deliveredTo - startIndex),
          recomputedTokens: ref.handle?.recomputedTokens ?? 0,
          resumeFrom: startIndex,
          completed,
        });
      }
      if (events.listening) {
        events.emit({
          type: 'request-done',
          id,
          outcome: end.outcome,
          ttftMs: end.firstTokenMs === undefined ? undefined : end.firstTokenMs - startMs,
          e2eMs: end.endMs - startMs,
          queueMs: ref.handle?.queueMs,
          itlMs: end.itlMs,
          promptTokens,
          cachedTokens: ref.handle?.cachedTokens ?? 0,
          completionTokens: end.deliveredTo - startIndex,
        });
      }
    },
  );
  open.add(stream);
  const identity = size.prefix === undefined ? {} : { prefix: size.prefix, outputId: `out:${id}` };
  ref.handle = gpu.submit({ promptTokens, startIndex, endIndex, ...identity }, stream);
  return stream;
}
