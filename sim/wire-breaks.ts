/**
 * The four wire forms of a mid-stream disconnect (reset, clean-close, error-event, truncated-chunk), played out on
 * a response that has started: for SSE streams ({@link breakStream}) and for one JSON body ({@link breakJson}).
 * Shared by the mock's routes (sim/stream-response.ts, sim/generate-route.ts) and the chaos proxy (sim/proxy-relay.ts),
 * so a fault looks the same on the wire whichever of them injected it.
 */
import type { ServerResponse } from 'node:http';
import { openAIError } from './http-errors.js';
import { sseError } from './sse.js';
import type { DisconnectForm } from './types.js';
import { resetConnection } from './wire.js';

/** What {@link breakStream} writes through: the SSE sink of a response whose head is out. */
export interface BreakSink {
  write(events: string): boolean;
  writeThen(events: string, flushed: () => void): void;
  end(last?: string): void;
}

/**
 * Plays a mid-stream disconnect out on an SSE response. `truncated` is the event of which half is written for the
 * truncated-chunk form (the next token event).
 */
export function breakStream(res: ServerResponse, sse: BreakSink, form: DisconnectForm, tokensSent: number, truncated: () => string): void {
  switch (form) {
    case 'reset':
      resetConnection(res);
      return;
    case 'clean-close':
      sse.end();
      return;
    case 'error-event':
      sse.write(sseError(openAIError(`stream interrupted after ${tokensSent} tokens (injected fault)`, 'server_error', null, 'stream_interrupted')));
      sse.end();
      return;
    case 'truncated-chunk': {
      // Half of a token event, in a complete HTTP chunk, then a reset: the client's SSE parser holds a partial event.
      const chunk = truncated();
      sse.writeThen(chunk.slice(0, chunk.length >> 1), () => resetConnection(res));
      return;
    }
  }
}

/** A disconnect in a non-streamed answer: the same four forms, applied to the one JSON body (head not yet sent). */
export function breakJson(res: ServerResponse, form: DisconnectForm, body: string, headers: Record<string, string>, tokensSent: number): void {
  switch (form) {
    case 'reset':
      resetConnection(res);
      break;
    case 'error-event': {
      const msg = `generation interrupted after ${tokensSent} tokens (injected fault)`;
      res.writeHead(500, { ...headers, 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify(openAIError(msg, 'server_error', null, 'stream_interrupted')));
      break;
    }
    case 'clean-close':
      res.writeHead(200, { ...headers, 'content-type': 'application/json; charset=utf-8' });
      res.end(body.slice(0, body.length >> 1));
      break;
    case 'truncated-chunk':
      res.writeHead(200, { ...headers, 'content-type': 'application/json; charset=utf-8' });
      res.write(body.slice(0, body.length >> 1), () => resetConnection(res));
      break;
  }
}
