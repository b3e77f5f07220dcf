/**
 * Streamed completions per document: which text to show as ghost text, at which point.
 *
 * One stream per document URI (the latest request wins, as in the server). A stream is keyed by
 * the document version and position it was requested for; a `sdsat/completionDelta` for any other
 * version or position, or for a document that has changed since, is stale and never shown. Deltas in
 * the append form are turned into the whole text so far first (deltaText.ts). When
 * the user types the first characters of a shown suggestion, the rest is carried over as the seed
 * of the next stream, so the ghost text does not flicker while the new request catches up.
 *
 * Knows nothing of VS Code: the provider in inlineCompletions.ts feeds it and reads it back.
 */

import { DeltaTexts } from './deltaText';
import type { CompletionDelta, WirePosition } from './protocol';

export interface StreamKey {
  uri: string;
  version: number;
  position: WirePosition;
}

export function samePosition(a: WirePosition, b: WirePosition): boolean {
  return a.line === b.line && a.character === b.character;
}

export function sameKey(a: StreamKey, b: StreamKey): boolean {
  return a.uri === b.uri && a.version === b.version && samePosition(a.position, b.position);
}

export type DeltaOutcome =
  | 'shown' // the ghost text changed
  | 'unchanged' // accepted, but the text to show is the same (e.g. still behind the seed)
  | 'no-stream' // no running stream for this document
  | 'stale' // another version or position than the running stream, or an out-of-date buffer
  | 'gap'; // append form: a delta of this request is missing, its text is unknown until the response

export class CompletionStream {
  /** Text so far from the server's deltas. */
  private streamed = '';
  /** The response's text once the request has answered; undefined while running. */
  private final: string | undefined;
  /** The response's further items (alternatives of a manual trigger), in the server's order. */
  private alternatives: string[] = [];
  private cancelled = false;
  private waiters: Array<() => void> = [];
  /** The text last handed to the editor, to re-trigger only when there is something new. */
  lastReturned: string | undefined;
  /** How many items the provider call that returned `lastReturned` handed over. */
  lastReturnedCount = 0;
  /** Whether a manual trigger started this request (the server then sends alternatives). */
  startedByInvoke = false;
  /** The editor's trigger kind of the provider call that returned `lastReturned` (opaque here). */
  lastTriggerKind: number | undefined;

  constructor(
    readonly key: StreamKey,
    /** Suggestion carried over from the previous stream while the user types through it. */
    readonly seed: string = '',
    private readonly onCancel: () => void = () => undefined,
  ) {}

  get isRunning(): boolean {
    return this.final === undefined && !this.cancelled;
  }

  get isCancelled(): boolean {
    return this.cancelled;
  }

  /** Whether this stream was started for exactly this document version and position. */
  isSameRequest(key: StreamKey): boolean {
    return sameKey(this.key, key);
  }

  /** What the editor should show now: the response once done, else the longer of seed and stream. */
  shownText(): string {
    if (this.final !== undefined) {
      return this.final;
    }
    if (this.seed.startsWith(this.streamed)) {
      return this.seed;
    }
    return this.streamed;
  }

  /** Every item to show: the shown text, then (once answered) the alternatives, no repeats. */
  shownTexts(): string[] {
    const texts = [this.shownText(), ...(this.final === undefined ? [] : this.alternatives)];
    return texts.filter((text, index) => text !== '' && texts.indexOf(text) === index);
  }

  /** Whether the editor has not yet been handed what to show now: a longer text, or the
   * answer's alternatives (VS Code learns of them only from another provider call). */
  hasUnshown(): boolean {
    return this.shownText() !== this.lastReturned || this.shownTexts().length !== this.lastReturnedCount;
  }

  /** Record what a provider call handed to the editor. */
  returned(texts: string[]): void {
    this.lastReturned = texts[0] ?? '';
    this.lastReturnedCount = texts.length;
  }

  /**
   * Whether a manual trigger (`invoked`) should send a new request although this one answered
   * the same position and version: it was a typing (automatic) request, which the server
   * answers with one item, and the user asks for `alternatives` > 1. Not while running or while
   * something is unshown: those provider calls are the extension's own re-triggers.
   */
  wantsAlternatives(invoked: boolean, alternatives: number): boolean {
    return invoked && alternatives > 1 && !this.isRunning && !this.isCancelled && !this.hasUnshown() && !this.startedByInvoke;
  }

  /** Take the whole text so far; returns whether the shown text changed. */
  applyText(text: string): boolean {
    if (!this.isRunning) {
      return false;
    }
    // Shrinking to a prefix of the text (an older request at the same position) would only
    // blink: the response is the last word.
    if (text.length < this.streamed.length && this.streamed.startsWith(text)) {
      return false;
    }
    const before = this.shownText();
    this.streamed = text;
    this.wake();
    return this.shownText() !== before;
  }

  /** The request answered: its text is authoritative (stop rules may have trimmed the tail). */
  finish(text: string, alternatives: string[] = []): void {
    if (this.cancelled) {
      return;
    }
    this.final = text;
    this.alternatives = alternatives;
    this.wake();
  }

  /** Superseded, or the user moved away: stop the request and show nothing more from it. */
  cancel(): void {
    if (this.cancelled || this.final !== undefined) {
      return;
    }
    this.cancelled = true;
    this.wake();
    this.onCancel();
  }

  /** Resolves at the next change of text or state (immediately if not running). */
  changed(): Promise<void> {
    if (!this.isRunning) {
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    waiters.forEach((resolve) => resolve());
  }
}

/** The texts of an inline completion answer's items, in order (snippet items by their value). */
export function answerTexts(items: ReadonlyArray<{ insertText: string | { value: string } }>): string[] {
  return items.map((item) => (typeof item.insertText === 'string' ? item.insertText : item.insertText.value));
}

/**
 * The rest of `shown` after the user typed `typed` at its start, or '' when the typing diverged.
 */
export function carryOver(shown: string, typed: string): string {
  if (typed.length === 0 || !shown.startsWith(typed)) {
    return '';
  }
  return shown.slice(typed.length);
}

export class CompletionStreams {
  private readonly byUri = new Map<string, CompletionStream>();
  private readonly texts = new DeltaTexts();

  current(uri: string): CompletionStream | undefined {
    return this.byUri.get(uri);
  }

  /** Start the stream for a new request; the document's previous stream is cancelled. */
  start(key: StreamKey, seed = '', onCancel?: () => void): CompletionStream {
    this.byUri.get(key.uri)?.cancel();
    const stream = new CompletionStream(key, seed, onCancel);
    this.byUri.set(key.uri, stream);
    return stream;
  }

  /**
   * Route one `sdsat/completionDelta`. `bufferVersion` is the editor's current version of the
   * document (undefined when it is not open): a delta for any other version is never shown.
   */
  applyDelta(delta: CompletionDelta, bufferVersion: number | undefined): DeltaOutcome {
    // Every delta counts for the append form's offsets, shown or not.
    const text = this.texts.apply(delta);
    const stream = this.byUri.get(delta.uri);
    if (stream === undefined || !stream.isRunning) {
      return 'no-stream';
    }
    if (
      delta.version !== stream.key.version ||
      !samePosition(delta.position, stream.key.position) ||
      (bufferVersion !== undefined && bufferVersion !== delta.version)
    ) {
      return 'stale';
    }
    if (text === undefined) {
      return 'gap';
    }
    return stream.applyText(text) ? 'shown' : 'unchanged';
  }

  /** The document closed: cancel and drop its stream. */
  forget(uri: string): void {
    this.byUri.get(uri)?.cancel();
    this.byUri.delete(uri);
  }

  cancelAll(): void {
    for (const uri of [...this.byUri.keys()]) {
      this.forget(uri);
    }
  }
}
