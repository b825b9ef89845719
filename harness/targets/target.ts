/**
 * External systems under test ("targets"): a gateway or service of the user's own, driven with the same workload,
 * under the same mock-GPU faults, and measured the same way as the engine's policies. A target takes the place of
 * the engine service for its row of the comparison table.
 *
 * A {@link TargetAdapter} says how to start the system (or nothing, when the user started it), when it is ready, how
 * to point it at the mock GPU (the start context carries the mock's URLs), which request headers it needs, and what
 * config to record in result.json. Users write their own in a few lines with {@link defineTarget}.
 */
import { HarnessError, ValidationError } from '../../src/errors.js';
import type { JsonValue, Outcome } from '../measure/types.js';
import type { ManagedProcess, ProcessSpec } from '../run/processes.js';

/** Where the mock GPU listens: what a target must be pointed at. */
export interface MockEndpoints {
  /** The primary mock's OpenAI-compatible base URL, e.g. `http://127.0.0.1:41234/v1`. */
  readonly upstreamUrl: string;
  /** The fallback mock's base URL, when the scenario has a fallback model. */
  readonly fallbackUrl?: string;
  /** Model names the mocks serve (the workload asks for `primaryModel`). */
  readonly primaryModel: string;
  readonly fallbackModel: string;
}

/** What a target's `start` gets: where the mock GPU listens, and how to run processes the harness will stop. */
export interface TargetStartContext extends MockEndpoints {
  /** A free loopback port for the target to listen on. */
  readonly port: number;
  /** How long the target may take to become ready. */
  readonly readyTimeoutMs: number;
  /**
   * Starts a child process (a TypeScript or JavaScript entry run by node) and waits until `readyPath` answers 200.
   * The harness stops it by PID when the row ends, whatever happens.
   */
  readonly spawn: (spec: ProcessSpec) => Promise<ManagedProcess>;
  readonly signal?: AbortSignal;
}

/** A started target. */
export interface StartedTarget {
  /** Base URL of its OpenAI-compatible API (the driver posts to `${url}/v1/chat/completions`). */
  readonly url: string;
  /** Extra cleanup; processes started with `ctx.spawn` are stopped anyway. */
  readonly stop?: () => Promise<void>;
}

/** How the target's answers map to outcomes where the wire alone cannot say. */
export interface TargetClassifier {
  /** The outcome of a non-2xx answer. @default every non-2xx is `failed`, 408 is `timeout` */
  outcomeOfStatus?(status: number, code: string | undefined): Outcome;
  /** A reason when a 200 answer is degraded (e.g. served by a fallback model), read from response headers. */
  degradedFrom?(headers: Readonly<Record<string, string | string[] | undefined>>): string | undefined;
}

/** An external system under test. */
export interface TargetAdapter extends TargetClassifier {
  readonly kind: 'target';
  /** Its row name in reports: lower case, digits and dashes, not used by a policy of the scenario. */
  readonly name: string;
  /** One line for reports. */
  readonly description?: string;
  /** Starts the system, pointed at `ctx.upstreamUrl`. Absent: the user runs it at `url`. */
  start?(ctx: TargetStartContext): Promise<StartedTarget>;
  /** Where a target the user runs listens (required without `start`). */
  readonly url?: string;
  /** True when it is ready; polled until `readyTimeoutMs`. @default a GET of `url` that gets any HTTP answer */
  ready?(url: string): Promise<boolean>;
  /** Headers it needs on every request (a gateway's config header, an API key). */
  headers?(ctx: MockEndpoints): Readonly<Record<string, string>>;
  /** The exact configuration used, recorded in result.json so anyone can rerun it. */
  describeConfig?(ctx: MockEndpoints): JsonValue;
}

/** Identity with `kind` filled in: how users write an adapter. */
export function defineTarget(t: Omit<TargetAdapter, 'kind'>): TargetAdapter {
  return { ...t, kind: 'target' };
}

/** True for a target adapter (as opposed to a policy of the scenario). */
export function isTargetAdapter(x: unknown): x is TargetAdapter {
  return x !== null && typeof x === 'object' && (x as { kind?: unknown }).kind === 'target';
}

/** Why a target could not be run. Stable codes: TARGET_INVALID, TARGET_UNREACHABLE, TARGET_NOT_READY, TARGET_PROTOCOL. */
export class TargetError extends HarnessError {
  constructor(
    code: 'TARGET_INVALID' | 'TARGET_UNREACHABLE' | 'TARGET_NOT_READY' | 'TARGET_PROTOCOL',
    readonly target: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, `target ${target}: ${message}`, options);
  }
}

const NAME_RE = /^[a-z0-9][a-z0-9-]*$/;

/**
 * Checks a list of adapters (a scenario's `targets` or the CLI's): names valid and unique (also against `taken`,
 * the policy names), each with `start` or an http(s) `url`.
 * @throws ValidationError naming the entry, e.g. `scenario.targets[1].name`.
 */
export function validateTargets(list: unknown, path: string, taken: readonly string[] = []): TargetAdapter[] {
  if (!Array.isArray(list)) throw new ValidationError(path, 'an array of target adapters (defineTarget, portkeyTarget, urlTarget)', list);
  const seen = new Set(taken);
  return list.map((t, i) => {
    const at = `${path}[${i}]`;
    if (!isTargetAdapter(t)) throw new ValidationError(at, "a target adapter made with defineTarget (kind: 'target')", t);
    if (typeof t.name !== 'string' || !NAME_RE.test(t.name)) throw new ValidationError(`${at}.name`, 'lower case letters, digits and dashes, e.g. "my-gateway"', t.name);
    if (seen.has(t.name)) throw new ValidationError(`${at}.name`, 'a name not used by another policy or target of the run', t.name);
    seen.add(t.name);
    if (t.start === undefined) {
      if (t.url === undefined) throw new ValidationError(`${at}.url`, 'the URL of a system you started (or a start function)', undefined);
      checkUrl(t.url, `${at}.url`);
    } else if (typeof t.start !== 'function') throw new ValidationError(`${at}.start`, 'a function', t.start);
    return t;
  });
}

/** Checks an http(s) base URL. @throws ValidationError */
export function checkUrl(url: string, path: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ValidationError(path, 'an http(s) URL like http://127.0.0.1:9000', url);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ValidationError(path, 'an http: or https: URL', url);
  return u;
}
