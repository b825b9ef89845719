/**
 * A ModelClient decorator that lets a redelivered job continue from its checkpoint. The Engine runs each
 * delivery as a fresh request whose tokens count from 0; this client shifts them by the checkpoint, so the
 * upstream continues at token `checkpoint + k` (`resumeFrom`, with the committed text as the prefix) and the
 * engine sees token k. Without a continuation (policy `resume` off, or an upstream that cannot continue) it
 * restarts from 0: the tokens the checkpoint already holds are dropped here, a chunk that straddles the
 * checkpoint is cut by characters. That is only sound on an upstream that reproduces its text (the mock); the
 * worker does not redeliver onto any other (see {@link CheckpointClient.canContinue}).
 */
import { StreamInterruptedError } from '../upstream/errors.js';
import {
  capabilitiesOf,
  type CallOptions,
  type EmbeddingRequest,
  type EmbeddingResult,
  type ModelClient,
  type ModelRequest,
  type StreamEvent,
  type StreamOptions,
  type UpstreamCapabilities,
} from '../upstream/model-client.js';

/** What a job's earlier deliveries committed. */
export interface Checkpoint {
  readonly tokens: number;
  /** Length of the committed text, in UTF-16 code units (JavaScript string length). */
  readonly chars: number;
  /** The committed text: the prefix a continuation sends. */
  readonly text?: string;
}

/** Shifts streams of requests that have a checkpoint. */
export class CheckpointClient implements ModelClient {
  private readonly checkpoints = new Map<string, Checkpoint>();

  /** @param resume ask the upstream to continue (`resumeFrom`), or restart it and drop what is committed */
  constructor(private readonly inner: ModelClient, private readonly resume: boolean) {}

  get capabilities(): UpstreamCapabilities | undefined {
    return this.inner.capabilities;
  }

  /**
   * Whether a delivery may go on after a checkpoint: the upstream continues it (and the policy resumes), or a
   * restart reproduces the committed text, or the policy splices (`resume.splice`, the anti-pattern).
   */
  canContinue(splice: boolean): boolean {
    const caps = capabilitiesOf(this.inner);
    return (this.resume && caps.continuation) || caps.reproducible || splice;
  }

  /** Streams of request `id` continue after `cp` until {@link clear}. */
  set(id: string, cp: Checkpoint): void {
    if (cp.tokens > 0) this.checkpoints.set(id, cp);
  }

  clear(id: string): void {
    this.checkpoints.delete(id);
  }

  stream(request: ModelRequest, options?: StreamOptions): AsyncIterable<StreamEvent> {
    const cp = this.checkpoints.get(request.id);
    if (cp === undefined) return this.inner.stream(request, options);
    return this.shifted(request, options, cp);
  }

  embed(request: EmbeddingRequest, options?: CallOptions): Promise<EmbeddingResult> {
    return this.inner.embed(request, options);
  }

  private async *shifted(request: ModelRequest, options: StreamOptions | undefined, cp: Checkpoint): AsyncGenerator<StreamEvent> {
    const from = cp.tokens + (options?.resumeFrom ?? 0);
    const resume = this.resume && capabilitiesOf(this.inner).continuation;
    const call: StreamOptions = {
      ...(options?.signal !== undefined ? { signal: options.signal } : {}),
      ...(resume ? { resumeFrom: from, resumeText: `${cp.text ?? ''}${options?.resumeText ?? ''}` } : {}),
    };
    // Characters seen before the checkpoint, known when the upstream starts from token 0.
    let chars: number | undefined;
    for await (const ev of this.inner.stream(request, call)) {
      if (ev.type !== 'tokens') {
        yield ev;
        continue;
      }
      if (ev.index === 0) chars = 0;
      const end = ev.index + ev.count;
      if (ev.index >= cp.tokens) {
        yield { type: 'tokens', index: ev.index - cp.tokens, count: ev.count, text: ev.text };
      } else if (end <= cp.tokens) {
        if (chars !== undefined) chars += ev.text.length;
      } else if (chars !== undefined) {
        yield { type: 'tokens', index: 0, count: end - cp.tokens, text: ev.text.slice(cp.chars - chars) };
        chars += ev.text.length;
      } else {
        throw new StreamInterruptedError(0, `cannot align a chunk at token ${ev.index} with the checkpoint at ${cp.tokens}`);
      }
    }
  }
}
