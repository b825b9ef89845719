import type { CallOptions, CompletionBatchRequest, CompletionBatchResult, EmbeddingRequest, EmbeddingResult, ModelClient, ModelRequest, StreamEvent, StreamOptions } from '../upstream/model-client.js';

/**
 * A client that sends every request under another model name: the engine sends one request to either upstream,
 * and a fallback server usually serves a different model (`--fallback-model`).
 */
export function withModel(client: ModelClient, model: string): ModelClient {
  const batch = client.completeBatch?.bind(client);
  return {
    ...(client.capabilities !== undefined ? { capabilities: client.capabilities } : {}),
    stream: (request: ModelRequest, options?: StreamOptions): AsyncIterable<StreamEvent> => client.stream({ ...request, model }, options),
    embed: (request: EmbeddingRequest, options?: CallOptions): Promise<EmbeddingResult> => client.embed({ ...request, model }, options),
    ...(client.listModels !== undefined ? { listModels: client.listModels.bind(client) } : {}),
    // Batchable chat to this upstream is batched only if the alias keeps the multi-prompt call.
    ...(batch !== undefined ? { completeBatch: (request: CompletionBatchRequest, options?: CallOptions): Promise<CompletionBatchResult> => batch({ ...request, model }, options) } : {}),
  };
}
