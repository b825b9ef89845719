import type { VirtualClock } from '../../time/virtual-clock.js';
import { ServerError } from '../../upstream/errors.js';
import type {
  CompletionBatchRequest,
  CompletionBatchResult,
  EmbeddingResult,
  ModelClient,
  ModelRequest,
  StreamEvent,
  UpstreamCapabilities,
} from '../../upstream/model-client.js';

/** A scripted upstream: streams `s:<id>` for single calls, answers `a:<prompt>` per prompt for batched ones. */
export class ScriptedBatchClient implements ModelClient {
  readonly streams: ModelRequest[] = [];
  readonly batches: CompletionBatchRequest[] = [];
  failBatches = 0;

  constructor(
    private readonly clock: VirtualClock,
    readonly capabilities: UpstreamCapabilities,
    private readonly usage: { promptTokens: number; completionTokens: number } | undefined = { promptTokens: 40, completionTokens: 12 },
  ) {}

  async *stream(request: ModelRequest): AsyncIterable<StreamEvent> {
    this.streams.push(request);
    await this.clock.sleep(5);
    yield { type: 'tokens', index: 0, count: 1, text: `s:${request.id}` };
    yield { type: 'done', usage: { promptTokens: 3, completionTokens: 1 }, finishReason: 'stop' };
  }

  async completeBatch(request: CompletionBatchRequest): Promise<CompletionBatchResult> {
    this.batches.push(request);
    await this.clock.sleep(20);
    if (this.failBatches > 0) {
      this.failBatches--;
      throw new ServerError(503, 'batch refused');
    }
    // Answered out of order on purpose: the engine must match choices by index, not position.
    const choices = request.prompts.map((p, index) => ({ index, text: `a:${p}`, finishReason: 'stop' })).reverse();
    return { choices, ...(this.usage !== undefined ? { usage: this.usage } : {}) };
  }

  embed(): Promise<EmbeddingResult> {
    return Promise.reject(new Error('not used'));
  }
}
