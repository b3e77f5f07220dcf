/**
 * The sdsat extensions to LSP (docs/protocol.md): the streamed text of a running
 * `textDocument/inlineCompletion` request and the server's status. Types only: no vscode here.
 */

export interface WirePosition {
  line: number;
  character: number;
}

/**
 * `sdsat/completionDelta` params. Without `offset` (the default form), `text` is the whole text so
 * far; in the append form this client asks for, the text so far is the previous text's first
 * `offset` UTF-16 code units followed by `text` (see deltaText.ts).
 */
export interface CompletionDelta {
  id: number | string;
  uri: string;
  version: number;
  position: WirePosition;
  offset?: number;
  text: string;
}

export type ServerState = 'loading' | 'ready' | 'error';

/** `sdsat/status` notification params, and the result of the `sdsat/status` request. */
export interface ServerStatus {
  state: ServerState;
  model: string;
  device: string;
  dtype: string;
  /** Resolved strategy (never `auto`) and drafts per round. */
  strategy: string;
  k?: number;
  /** Whether the model has fill-in-the-middle tokens (else prefix-only prompts). */
  fim?: boolean;
  message: string;
  lastLatencyMs: number | null;
}

export const COMPLETION_DELTA = 'sdsat/completionDelta';
export const STATUS = 'sdsat/status';

/** The `initialize` capability that opts into the append form of `sdsat/completionDelta`. */
export function requestAppendDeltas(capabilities: { experimental?: unknown }): void {
  const experimental = (capabilities.experimental ?? {}) as Record<string, unknown>;
  const sdsat = (experimental.sdsat ?? {}) as Record<string, unknown>;
  capabilities.experimental = { ...experimental, sdsat: { ...sdsat, completionDelta: 'append' } };
}
/** Prefix of the `window/logMessage` lines that carry one JSON latency record. */
export const LATENCY_PREFIX = 'sdsat-latency ';

export function isCompletionDelta(value: unknown): value is CompletionDelta {
  if (typeof value !== 'object' || value === null) {
    return false;
  }
  const delta = value as Partial<CompletionDelta>;
  return (
    (typeof delta.id === 'number' || typeof delta.id === 'string') &&
    typeof delta.uri === 'string' &&
    typeof delta.version === 'number' &&
    typeof delta.text === 'string' &&
    (delta.offset === undefined || (Number.isInteger(delta.offset) && delta.offset >= 0)) &&
    typeof delta.position?.line === 'number' &&
    typeof delta.position?.character === 'number'
  );
}
