/**
 * The streamed answer of a chat or completion request: every choice's tokens as OpenAI SSE chunks, then the
 * finish chunks, the usage chunk and `[DONE]`; or, when the core says so, a mid-stream disconnect played out on
 * the wire in its form (reset, clean-close, error-event, truncated-chunk).
 */
import type { ServerResponse } from 'node:http';
import { openAIError, toHttpError } from './http-errors.js';
import { SSE_DONE, SSE_HEADERS, sseError, type ChunkWriter } from './sse.js';
import type { DisconnectForm, Generation } from './types.js';
import { openSse } from './wire.js';
import { breakStream } from './wire-breaks.js';

/**
 * Streams every choice as SSE. The generations push their chunks (GenerationEvents.listen), so a token goes from
 * the GPU step that made it visible straight to the socket: no promise or closure per token. When the socket backs
 * up, a choice pauses until `drain`, and the tokens made meanwhile go out as one chunk.
 */
export function streamResponse(
  res: ServerResponse,
  writer: ChunkWriter,
  gens: Generation[],
  headers: Record<string, string>,
  includeUsage: boolean,
  signal: AbortSignal,
): Promise<boolean> {
  const sse = openSse(res, 200, { ...SSE_HEADERS, ...headers }, writer.kind === 'chat' ? writer.role() : undefined);
  return new Promise<boolean>((resolve) => {
    let broken: { form: DisconnectForm; tokensSent: number } | undefined;
    let open = gens.length;
    let prompt = 0;
    let completion = 0;
    let cached = 0;
    /** The last choice's finish chunk, sent with the usage chunk, [DONE] and the end of the body in one write. */
    let lastFinish = '';
    const finish = (): void => {
      if (sse.destroyed) return resolve(false);
      if (broken) {
        const tokensSent = broken.tokensSent;
        breakStream(res, sse, broken.form, tokensSent, () => writer.tokens(0, ' truncated', tokensSent, 1));
        return resolve(false);
      }
      sse.end(lastFinish + (includeUsage ? writer.usage(prompt, completion, cached) : '') + SSE_DONE);
      resolve(true);
    };
    gens.forEach((gen, choice) => {
      const events = gen.events;
      const resume = (): void => events.resume();
      events.listen({
        tokens(text, index, count) {
          // After a disconnect in a sibling, or once the socket is gone, tokens are dropped (as a dead wire would).
          // (An abort ends the generation at once, so no tokens come after it.)
          if (broken !== undefined || sse.destroyed) return true;
          if (sse.write(writer.tokens(choice, text, index, count))) return true;
          void sse.drained(signal).then(resume);
          return false;
        },
        end(terminal, error) {
          if (error !== undefined && !signal.aborted) {
            // Headers are out: an unexpected core error can only be reported in-stream.
            const e = toHttpError(error);
            if (!sse.destroyed && !broken) {
              sse.write(sseError(e.kind === 'reply' ? e.body : openAIError(e.reason, 'server_error', null, 'connection_reset')));
              broken = { form: 'clean-close', tokensSent: 0 };
            }
          } else if (terminal?.type === 'disconnect' && !signal.aborted) {
            if (!broken) broken = { form: terminal.form, tokensSent: terminal.tokensSent };
          } else if (terminal?.type === 'done' && !signal.aborted) {
            prompt += terminal.promptTokens;
            completion += terminal.completionTokens;
            cached += terminal.cachedTokens;
            if (!broken && !sse.destroyed) {
              if (open === 1) lastFinish = writer.finish(choice, terminal.finishReason);
              else sse.write(writer.finish(choice, terminal.finishReason));
            }
          }
          if (--open === 0) finish();
        },
      });
    });
  });
}
