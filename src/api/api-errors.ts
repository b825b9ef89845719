/**
 * The service's errors: each has a stable `code`, an HTTP status and an OpenAI-shaped body
 * (`{ error: { message, type, param, code } }`), so OpenAI clients and our own routes read them alike.
 */
import { HarnessError } from '../errors.js';

/** One field that failed validation. */
export interface FieldError {
  readonly field: string;
  readonly message: string;
}

/** An error that maps to an HTTP answer. */
export class ApiError extends HarnessError {
  constructor(
    readonly status: number,
    code: string,
    message: string,
    readonly details: { readonly type?: string; readonly param?: string; readonly fields?: readonly FieldError[]; readonly retryAfterMs?: number; readonly headers?: Readonly<Record<string, string>> } = {},
  ) {
    super(code, message);
  }

  /** The OpenAI-shaped body. */
  body(): { error: Record<string, unknown> } {
    return {
      error: {
        message: this.message,
        type: this.details.type ?? typeFor(this.status),
        param: this.details.param ?? null,
        code: this.code,
        ...(this.details.fields !== undefined ? { fields: this.details.fields } : {}),
        ...(this.details.retryAfterMs !== undefined ? { retry_after_ms: this.details.retryAfterMs } : {}),
      },
    };
  }
}

function typeFor(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  if (status === 504) return 'timeout_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

/** 400 naming the field. */
export function badField(field: string, expected: string, got: string): ApiError {
  const message = `${field}: expected ${expected}, got ${got}`;
  return new ApiError(400, 'invalid_value', message, { param: field, fields: [{ field, message }] });
}

/** 404 for a job that does not exist or belongs to another tenant (the two are indistinguishable on purpose). */
export function jobNotFound(id: string): ApiError {
  return new ApiError(404, 'job_not_found', `job ${JSON.stringify(id)} not found`, { param: 'id' });
}

/** The `Retry-After` (whole seconds, rounded up, at least 1) and `retry-after-ms` headers. */
export function retryAfterHeaders(retryAfterMs: number | undefined): Record<string, string> {
  const ms = Math.max(0, Math.ceil(retryAfterMs ?? 1000));
  return { 'retry-after': String(Math.max(1, Math.ceil(ms / 1000))), 'retry-after-ms': String(ms) };
}
