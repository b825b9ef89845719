/**
 * Portkey's open-source AI gateway (`@portkey-ai/gateway`, MIT) as a peer under test. The harness starts
 * `node node_modules/@portkey-ai/gateway/build/start-server.js --port=PORT --headless` (pinned version, checked at
 * start) on loopback, and sends every request with an `x-portkey-config` header that routes to the mock GPU
 * (`provider: 'openai'` with a `custom_host`; 127.0.0.1 is among the gateway's default TRUSTED_CUSTOM_HOSTS).
 *
 * Two configs, each the documented way to do it in the gateway's docs:
 * - `retry`: automatic retries (portkey.ai/docs/product/ai-gateway/automatic-retries): `attempts` retries on
 *   429 and 5xx (Portkey's default list, made explicit), `use_retry_after_header` so a 429's Retry-After sets the wait.
 * - `retry-fallback`: the same retries on each target, inside a fallback strategy
 *   (portkey.ai/docs/product/ai-gateway/fallbacks) with `on_status_codes` 429 and 5xx, the second target being the
 *   fallback model (`override_params.model`).
 * Both forward the mock's per-request controls (`forward_headers`), the same headers the engine forwards.
 *
 * The exact config sent is recorded in result.json (`policies[].config.portkeyConfig`), with the mock URLs it used.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { JsonValue } from '../measure/types.js';
import { defineTarget, TargetError, type TargetAdapter } from './target.js';

/** The gateway version this adapter is written and measured against (package.json pins it exactly). */
export const PORTKEY_GATEWAY_VERSION = '1.15.2';

/** The preload that keeps the gateway on loopback and applies its own upstream patches (see the file). */
export const PORTKEY_RUNTIME = join(dirname(fileURLToPath(import.meta.url)), 'portkey-runtime.mjs');

/** Stderr lines the preload writes, one per patch; the adapter refuses a gateway that lacks any. */
export const PORTKEY_RUNTIME_MARKERS = ['portkey-runtime: listen() defaults to 127.0.0.1', 'portkey-runtime: async-retry passes its operation', 'portkey-runtime: upstream response headers are mutable'] as const;

/** The headers the mock reads per request (prompt and output length, token text seed); the engine forwards them too. */
export const MOCK_FORWARD_HEADERS = ['x-request-id', 'x-mock-prompt-tokens', 'x-mock-output-tokens'] as const;

/** Portkey's `retry` object. */
export interface PortkeyRetry {
  /** Retries after the first attempt (async-retry `retries`). */
  readonly attempts: number;
  readonly on_status_codes: readonly number[];
  readonly use_retry_after_header: boolean;
}

/**
 * The retry config of both presets: 3 retries (4 attempts, as the `resilient` preset's maxAttempts 4), on 429 and 5xx,
 * honouring Retry-After on 429s. Note the key is `use_retry_after_header` (singular) in 1.15.2's config schema; the
 * docs' `use_retry_after_headers` spelling is stripped by its zod schema and would silently do nothing.
 */
export const PORTKEY_RETRY: PortkeyRetry = { attempts: 3, on_status_codes: [429, 500, 502, 503, 504], use_retry_after_header: true };

/** Which Portkey setup to run. */
export type PortkeyMode = 'retry' | 'retry-fallback';

/** Where the mocks are, for building a config. */
export interface PortkeyUpstreams {
  /** OpenAI-compatible base URL of the primary model, e.g. `http://127.0.0.1:41234/v1`. */
  readonly upstreamUrl: string;
  readonly fallbackUrl?: string;
  /** @default 'fallback' */
  readonly fallbackModel?: string;
}

/**
 * The `x-portkey-config` object of `mode`.
 * @throws TargetError when `retry-fallback` is asked for without a fallback model.
 */
export function portkeyConfig(mode: PortkeyMode, up: PortkeyUpstreams, retry: PortkeyRetry = PORTKEY_RETRY, name = `portkey-${mode}`): Record<string, JsonValue> {
  const primary = { provider: 'openai', custom_host: up.upstreamUrl, retry: { ...retry, on_status_codes: [...retry.on_status_codes] } };
  const forward_headers = [...MOCK_FORWARD_HEADERS];
  if (mode === 'retry') return { ...primary, forward_headers };
  if (up.fallbackUrl === undefined) throw new TargetError('TARGET_INVALID', name, "mode 'retry-fallback' needs a fallback model: the scenario has no model.fallbackProfile");
  return {
    strategy: { mode: 'fallback', on_status_codes: [...retry.on_status_codes] },
    forward_headers,
    targets: [
      primary,
      { provider: 'openai', custom_host: up.fallbackUrl, override_params: { model: up.fallbackModel ?? 'fallback' }, retry: { ...retry, on_status_codes: [...retry.on_status_codes] } },
    ],
  };
}

/** Options of {@link portkeyTarget}. */
export interface PortkeyTargetOptions {
  /** @default `portkey-${mode}` */
  readonly name?: string;
  /** @default 'retry' */
  readonly mode?: PortkeyMode;
  /** @default PORTKEY_RETRY */
  readonly retry?: PortkeyRetry;
  /** A config of your own instead of `mode`'s (built from the mock URLs). */
  readonly config?: (up: PortkeyUpstreams) => Record<string, JsonValue>;
  /** The gateway package folder. @default resolved from node_modules */
  readonly packageDir?: string;
}

/** The installed gateway's folder and version. */
export function portkeyPackage(packageDir?: string): { dir: string; version: string; entry: string } {
  let dir = packageDir;
  if (dir === undefined) {
    try {
      dir = dirname(createRequire(import.meta.url).resolve('@portkey-ai/gateway/package.json'));
    } catch {
      dir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'node_modules', '@portkey-ai', 'gateway');
    }
  }
  let version = 'not installed';
  try {
    version = (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    // reported by the caller
  }
  return { dir, version, entry: join(dir, 'build', 'start-server.js') };
}

/** A Portkey gateway under test, started and stopped by the harness. */
export function portkeyTarget(o: PortkeyTargetOptions = {}): TargetAdapter {
  const mode = o.mode ?? 'retry';
  const name = o.name ?? `portkey-${mode}`;
  const retry = o.retry ?? PORTKEY_RETRY;
  const configOf = (up: PortkeyUpstreams): Record<string, JsonValue> => (o.config !== undefined ? o.config(up) : portkeyConfig(mode, up, retry, name));
  return defineTarget({
    name,
    description:
      mode === 'retry' ? `Portkey gateway ${PORTKEY_GATEWAY_VERSION}: retries on 429/5xx honouring Retry-After` : `Portkey gateway ${PORTKEY_GATEWAY_VERSION}: retries, then fallback to the fallback model`,
    async start(ctx) {
      const pkg = portkeyPackage(o.packageDir);
      if (pkg.version !== PORTKEY_GATEWAY_VERSION) {
        throw new TargetError('TARGET_INVALID', name, `expected @portkey-ai/gateway ${PORTKEY_GATEWAY_VERSION} (the pinned version) in ${pkg.dir}, got ${pkg.version}`);
      }
      const inherited = process.env['NODE_OPTIONS'] ?? '';
      const p = await ctx.spawn({
        name: `target[${name}]`,
        entry: pkg.entry,
        args: [`--port=${ctx.port}`, '--headless'],
        port: ctx.port,
        readyPath: '/',
        env: { NODE_OPTIONS: `${inherited} --import ${pathToFileURL(PORTKEY_RUNTIME).href}`.trim(), NODE_ENV: 'production' },
      });
      const tail = p.stderrTail().join('\n');
      const missing = PORTKEY_RUNTIME_MARKERS.filter((m) => !tail.includes(m));
      if (missing.length > 0) throw new TargetError('TARGET_INVALID', name, `expected the gateway's runtime patches in place, missing: ${missing.join('; ')}`);
      return { url: p.url };
    },
    headers: (up) => ({ 'x-portkey-config': JSON.stringify(configOf(up)) }),
    describeConfig: (up) => ({
      adapter: 'portkey',
      package: '@portkey-ai/gateway',
      version: PORTKEY_GATEWAY_VERSION,
      command: 'node node_modules/@portkey-ai/gateway/build/start-server.js --port=PORT --headless',
      preload: 'harness/targets/portkey-runtime.mjs (loopback bind; patches/async-retry+1.3.3.patch of the gateway repo; mutable upstream headers, gateway#1389)',
      mode: o.config !== undefined ? 'custom' : mode,
      header: 'x-portkey-config',
      portkeyConfig: configOf(up),
    }),
    outcomeOfStatus: (status) => (status === 408 ? 'timeout' : 'failed'),
    degradedFrom: (headers) => {
      // The index of the config target that answered, e.g. `config.targets[1]`: past the first one is the fallback.
      const v = headers['x-portkey-last-used-option-index'];
      const m = /targets\[(\d+)\]/.exec(Array.isArray(v) ? (v[0] ?? '') : (v ?? ''));
      return m !== null && Number(m[1]) > 0 ? 'fallback' : undefined;
    },
  });
}
