/**
 * The generic adapter: a system the user started, at a URL (`--target mine=http://127.0.0.1:9000`). The harness
 * starts only the mock GPU; the user points the system's upstream at the mock (`--mock-port` fixes where it
 * listens, so the system can be started first). Nothing inside the system is visible, so its queue, breaker and
 * retries are reported as unknown; the mock's counters still give amplification and wasted tokens.
 */
import { ValidationError } from '../../src/errors.js';
import type { JsonValue } from '../measure/types.js';
import { checkUrl, defineTarget, type TargetAdapter } from './target.js';

/** Options of {@link urlTarget}. */
export interface UrlTargetOptions {
  /** Headers sent on every request (an API key, a gateway config header). @default {} */
  readonly headers?: Readonly<Record<string, string>>;
  readonly description?: string;
  /** Recorded in result.json as the target's config. @default { url } */
  readonly config?: JsonValue;
}

/** A target the user runs at `url` (its OpenAI-compatible API is `${url}/v1/chat/completions`). */
export function urlTarget(name: string, url: string, o: UrlTargetOptions = {}): TargetAdapter {
  const base = checkUrl(url, `target ${name}: url`).href.replace(/\/$/, '');
  return defineTarget({
    name,
    url: base,
    description: o.description ?? `external system at ${base}, started by the user`,
    headers: () => o.headers ?? {},
    describeConfig: ({ upstreamUrl, fallbackUrl }) => ({
      adapter: 'url',
      url: base,
      startedBy: 'user',
      upstreamExpected: upstreamUrl,
      fallbackExpected: fallbackUrl ?? null,
      headers: Object.keys(o.headers ?? {}).sort(),
      ...(o.config !== undefined ? { config: o.config } : {}),
    }),
  });
}

/**
 * Parses one `--target NAME=URL` value.
 * @throws ValidationError naming the flag and what was expected.
 */
export function parseTargetFlag(value: string): TargetAdapter {
  const eq = value.indexOf('=');
  if (eq <= 0 || eq === value.length - 1) throw new ValidationError('--target', 'NAME=URL, e.g. mine=http://127.0.0.1:9000', value);
  const name = value.slice(0, eq).trim();
  const url = value.slice(eq + 1).trim();
  if (!/^[a-z0-9][a-z0-9-]*$/.test(name)) throw new ValidationError('--target NAME', 'lower case letters, digits and dashes, e.g. mine', name);
  checkUrl(url, `--target ${name}`);
  return urlTarget(name, url);
}
