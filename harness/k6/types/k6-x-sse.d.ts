/**
 * Types of `k6/x/sse` (xk6-sse v0.1.12, phymbert/xk6-sse), the k6 extension that streams Server-Sent Events, for
 * the exported scripts that import it. What the declarations say was checked against ../shared/bin/k6
 * (see docs/k6.md): `sse.open` blocks the VU until the stream ends, status and headers are known only then, a
 * refused connection comes back in `error` (status 0), and after a reset or timeout the `error` handler must call
 * `client.close()`.
 */
declare module 'k6/x/sse' {
  /** Parameters of {@link open}. */
  export interface SseParams {
    /** @default 'GET' */
    method?: string;
    /** The request body: a string (set Content-Type yourself). */
    body?: string;
    /** One value per header. */
    headers?: Record<string, string>;
    /** Tags of the request's metrics. */
    tags?: Record<string, string>;
    /** A k6 duration ('30s') covering the whole stream. @default none */
    timeout?: string;
  }

  /** One event of the stream. A keep-alive comment arrives as an event with empty `data`. */
  export interface SseEvent {
    readonly id: string;
    readonly name: string;
    readonly data: string;
    readonly comment: string;
  }

  /** What the `error` handler gets. */
  export interface SseError {
    error(): string;
  }

  export interface SseClient {
    on(event: 'open', handler: () => void): void;
    on(event: 'event', handler: (event: SseEvent) => void): void;
    on(event: 'error', handler: (error: SseError) => void): void;
    /** Ends the stream; `open` returns. */
    close(): void;
  }

  /** The answer, once the stream has ended. A refused connection: `status` 0 and `error` set. */
  export interface SseResponse {
    readonly url: string;
    readonly status: number;
    readonly headers: Record<string, string>;
    readonly error: string;
  }

  /** Opens a stream and blocks until it ends; `setup` registers the handlers. */
  export function open(url: string, params: SseParams, setup: (client: SseClient) => void): SseResponse;
  export function open(url: string, setup: (client: SseClient) => void): SseResponse;

  const sse: { open: typeof open };
  export default sse;
}
