/**
 * Synthetic tool calls, so agent scenarios can exercise tool-call streams: a chat request that carries `tools`
 * and a `tool_choice` that forces a call (`required`, or `{ type: 'function', function: { name } }`) is answered
 * with one call to that function instead of text. Its arguments are `{"input": "<the generated text>"}`, streamed
 * as `tool_calls` deltas (the text in pieces, as the tokens come), and the answer finishes with `tool_calls`.
 */

/** The function a request forces a call to, if it does. */
export function forcedTool(body: { readonly tools?: unknown; readonly tool_choice?: unknown }): string | undefined {
  const tools = body.tools;
  if (!Array.isArray(tools) || tools.length === 0) return undefined;
  const choice = body.tool_choice;
  if (typeof choice === 'object' && choice !== null) {
    const name = (choice as { function?: { name?: unknown } }).function?.name;
    return typeof name === 'string' ? name : undefined;
  }
  if (choice !== 'required') return undefined;
  const name = (tools[0] as { function?: { name?: unknown } } | null)?.function?.name;
  return typeof name === 'string' ? name : undefined;
}

/** The call's id for a response. */
export function toolCallId(responseId: string): string {
  return `call_${responseId.replace(/^chatcmpl-/, '')}`;
}

/** Text as it sits inside a JSON string (escaped, without the quotes). */
export function inJsonString(text: string): string {
  return JSON.stringify(text).slice(1, -1);
}

/** The whole call, for a non-streamed answer. */
export function wholeToolCall(name: string, responseId: string, text: string): { id: string; type: 'function'; function: { name: string; arguments: string } } {
  return { id: toolCallId(responseId), type: 'function', function: { name, arguments: JSON.stringify({ input: text }) } };
}
