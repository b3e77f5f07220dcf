/**
 * The text so far of each streamed request, rebuilt from `sdsat/completionDelta` in either form.
 *
 * In the append form a delta carries `offset` (UTF-16 code units, what a JS string's length
 * counts) and only the new text: the text so far is the previous text's first `offset` units
 * followed by `text`. The server computes `offset` against the deltas it has written for that
 * request, so every delta received is applied here, before anything decides whether to show it.
 * An offset past the text held means a delta is missing (never expected from the server, but an
 * evicted or unknown request looks the same): the request's text is then unknown until a delta
 * with offset 0 restarts it, and the response, which is authoritative, ends the request anyway.
 */

import type { CompletionDelta } from './protocol';

type RequestId = CompletionDelta['id'];

export class DeltaTexts {
  /** Text so far per request id, most recently updated last. A request not here has none yet. */
  private readonly texts = new Map<RequestId, string>();

  /** `capacity`: requests remembered (only the latest few can still stream). */
  constructor(private readonly capacity = 8) {}

  /** Apply one delta; returns its request's whole text so far, or undefined when unknown. */
  apply(delta: CompletionDelta): string | undefined {
    const before = this.texts.get(delta.id) ?? '';
    const offset = delta.offset ?? 0; // no offset: the whole-text form
    this.texts.delete(delta.id);
    if (offset > before.length) {
      return undefined; // forgotten: unknown until an offset of 0
    }
    const text = before.slice(0, offset) + delta.text;
    this.texts.set(delta.id, text);
    for (const oldest of this.texts.keys()) {
      if (this.texts.size <= this.capacity) {
        break;
      }
      this.texts.delete(oldest);
    }
    return text;
  }
}
