/**
 * The per-request fault header, `x-mock-fault` (also `ModelRequest.fault` in-process). Syntax:
 *
 *     x-mock-fault: FAULT[; FAULT]...
 *     FAULT := KIND[:PARAM[,PARAM]...]      PARAM := key=value | value (the first, positional)
 *
 * | fault                                               | effect                                                        |
 * |-----------------------------------------------------|---------------------------------------------------------------|
 * | `none`                                              | no random fault of the plan for this request                  |
 * | `status:429[,retry-after-ms=500]`                   | answer with this status (400–599); 429/503 carry Retry-After  |
 * | `disconnect[:after=20\|after-ms=300][,form=reset]`  | break the stream after N tokens (default 0) or T ms; forms: reset, clean-close, error-event, truncated-chunk |
 * | `stall[:after=10][,ms=2000]`                        | stop sending after N tokens (default 0), connection open; resume after `ms` if given |
 * | `hang`                                              | accept and never answer                                       |
 * | `delay:ms=200`                                      | network delay before the request reaches the server           |
 * | `ttft:ms=500`                                       | extra delay before the first token                            |
 * | `jitter:ms=5`                                       | extra delay on every chunk                                    |
 * | `crash[:downtime-ms=1000][,cold-start-ms=500]`      | crash the model when this request is admitted                 |
 *
 * Example: `disconnect:after=20,form=error-event; ttft:ms=300`. A malformed header is a 400 naming the part.
 */
import { BadRequestError } from '../src/upstream/errors.js';
import { DISCONNECT_FORMS, type DisconnectForm } from './types.js';

/** A parsed header: each field set only when its fault was named. */
export interface HeaderFaults {
  readonly none?: true;
  readonly status?: { readonly status: number; readonly retryAfterMs?: number };
  readonly disconnect?: { readonly afterTokens?: number; readonly afterMs?: number; readonly form: DisconnectForm };
  readonly stall?: { readonly afterTokens: number; readonly forMs?: number };
  readonly hang?: true;
  readonly delayMs?: number;
  readonly ttftMs?: number;
  readonly jitterMs?: number;
  readonly crash?: { readonly downtimeMs?: number; readonly coldStartMs?: number };
}

/** The kinds the header knows. */
export const HEADER_FAULT_KINDS = ['none', 'status', 'disconnect', 'stall', 'hang', 'delay', 'ttft', 'jitter', 'crash'] as const;

/** A bad `x-mock-fault` header: a 400 whose message names the part, what was expected and what was given. */
export class FaultHeaderError extends BadRequestError {
  constructor(readonly path: string, expected: string, received: string) {
    super(`${path}: expected ${expected}, got ${JSON.stringify(received)}`);
  }
}

const H = 'x-mock-fault';

/** Parses an `x-mock-fault` value. Throws {@link FaultHeaderError}. */
export function parseFaultHeader(value: string): HeaderFaults {
  const out: { -readonly [K in keyof HeaderFaults]: HeaderFaults[K] } = {};
  for (const raw of value.split(';')) {
    const part = raw.trim();
    if (part === '') continue;
    const colon = part.indexOf(':');
    const kind = (colon < 0 ? part : part.slice(0, colon)).trim().toLowerCase();
    const params = parseParams(kind, colon < 0 ? '' : part.slice(colon + 1));
    const path = `${H}.${kind}`;
    const allow = (keys: readonly string[]): void => {
      for (const k of params.keys()) if (!keys.includes(k)) throw new FaultHeaderError(`${path}.${k}`, `one of ${keys.join(', ') || 'no parameters'}`, k);
    };
    switch (kind) {
      case 'none':
        allow([]);
        out.none = true;
        break;
      case 'hang':
        allow([]);
        out.hang = true;
        break;
      case 'status': {
        allow(['', 'retry-after-ms']);
        const status = int(params, '', path, 400, 599, true) as number;
        const retryAfterMs = int(params, 'retry-after-ms', path, 0, 86_400_000);
        out.status = { status, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
        break;
      }
      case 'disconnect': {
        allow(['after', 'after-ms', 'form']);
        const afterTokens = int(params, 'after', path, 0, 1e9);
        const afterMs = int(params, 'after-ms', path, 0, 86_400_000);
        const form = params.get('form') ?? 'reset';
        if (!(DISCONNECT_FORMS as readonly string[]).includes(form)) throw new FaultHeaderError(`${path}.form`, `one of ${DISCONNECT_FORMS.join(', ')}`, form);
        out.disconnect = {
          form: form as DisconnectForm,
          ...(afterMs !== undefined ? { afterMs } : { afterTokens: afterTokens ?? 0 }),
          ...(afterMs !== undefined && afterTokens !== undefined ? { afterTokens } : {}),
        };
        break;
      }
      case 'stall': {
        allow(['after', 'ms']);
        const forMs = int(params, 'ms', path, 0, 86_400_000);
        out.stall = { afterTokens: int(params, 'after', path, 0, 1e9) ?? 0, ...(forMs !== undefined ? { forMs } : {}) };
        break;
      }
      case 'delay':
      case 'ttft':
      case 'jitter': {
        allow(['ms']);
        const ms = int(params, 'ms', path, 0, 86_400_000, true) as number;
        if (kind === 'delay') out.delayMs = ms;
        else if (kind === 'ttft') out.ttftMs = ms;
        else out.jitterMs = ms;
        break;
      }
      case 'crash': {
        allow(['downtime-ms', 'cold-start-ms']);
        const downtimeMs = int(params, 'downtime-ms', path, 0, 86_400_000);
        const coldStartMs = int(params, 'cold-start-ms', path, 0, 86_400_000);
        out.crash = { ...(downtimeMs !== undefined ? { downtimeMs } : {}), ...(coldStartMs !== undefined ? { coldStartMs } : {}) };
        break;
      }
      default:
        throw new FaultHeaderError(H, `a fault kind (${HEADER_FAULT_KINDS.join(', ')})`, kind);
    }
  }
  return out;
}

/** `a=1,b=2,positional` → Map; the positional value is stored under the key ''. */
function parseParams(kind: string, text: string): Map<string, string> {
  const m = new Map<string, string>();
  if (text.trim() === '') return m;
  for (const raw of text.split(',')) {
    const p = raw.trim();
    const eq = p.indexOf('=');
    const key = eq < 0 ? '' : p.slice(0, eq).trim().toLowerCase();
    const val = eq < 0 ? p : p.slice(eq + 1).trim();
    if (m.has(key)) throw new FaultHeaderError(`${H}.${kind}${key === '' ? '' : `.${key}`}`, 'each parameter once', p);
    m.set(key, val);
  }
  return m;
}

function int(params: Map<string, string>, key: string, path: string, min: number, max: number, required = false): number | undefined {
  const v = params.get(key);
  const where = key === '' ? path : `${path}.${key}`;
  if (v === undefined) {
    if (required) throw new FaultHeaderError(where, key === '' ? 'a value after the colon' : `a ${key}= parameter`, '');
    return undefined;
  }
  const n = /^\d+$/.test(v) ? Number(v) : Number.NaN;
  if (!Number.isInteger(n) || n < min || n > max) throw new FaultHeaderError(where, `an integer from ${min} to ${max}`, v);
  return n;
}
