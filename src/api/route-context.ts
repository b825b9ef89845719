import type { Engine } from '../engine/engine.js';
import type { Random } from '../random.js';
import type { EngineTelemetry } from '../telemetry/engine-telemetry.js';
import type { Clock } from '../time/clock.js';
import type { ModelRequest } from '../upstream/model-client.js';
import type { JobService } from './jobs.js';
import type { JobStore } from '../jobs/job-store.js';
import type { PayloadOptions } from '../jobs/payload-store.js';
import type { SseLimits, SseStats } from './sse.js';

/** What the route modules share. */
export interface RouteContext {
  readonly engine: Engine;
  readonly jobs: JobService;
  readonly store: JobStore;
  readonly clock: Clock;
  readonly random: Random;
  readonly telemetry: EngineTelemetry | undefined;
  readonly callbackAllowlist: readonly string[];
  /** Deployments a job's `modelHint` may name, and the engine route (`primary` or `fallback`) each maps to. */
  readonly deployments: ReadonlyMap<string, 'primary' | 'fallback'>;
  /** Large payloads by reference (jobs on a remote queue only: the embedded queue keeps them in memory anyway). */
  readonly payloads: PayloadOptions | undefined;
  /** Model name for jobs that name none. */
  readonly defaultModel: string;
  /** Pass `x-mock-*` headers through to the upstream. */
  readonly forwardMockHeaders: boolean;
  readonly sseKeepAliveMs: number;
  /** Per-response SSE limits (unsent bytes, stalled readers) and the service's SSE counters. */
  readonly sseLimits: SseLimits;
  readonly sseStats: SseStats;
  /** Prompt tokens by the model's tokenizer, for a usage estimate; undefined: about 4 characters a token. */
  readonly countPromptTokens: ((request: ModelRequest) => number) | undefined;
  /**
   * Runs `fn` once when the app closes (at once if it already has), so open streams end; returns the
   * unsubscribe. A Set, not an AbortSignal: with thousands of open streams, adding and removing EventTarget
   * listeners walks a list each time.
   */
  onClosing(fn: () => void): () => void;
  /** Unix-epoch seconds, for OpenAI's `created`. */
  createdSeconds(): number;
}
