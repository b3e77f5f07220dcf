/**
 * Streaming ghost text in VS Code, as languageclient middleware around the standard
 * `textDocument/inlineCompletion` request.
 *
 * VS Code asks an InlineCompletionItemProvider once and shows what it returns; it has no API to
 * grow an item in place. So the request runs on its own (not tied to one provider call), each
 * `sdsat/completionDelta` stores the text so far and runs `editor.action.inlineSuggest.trigger`,
 * and the provider call that this causes returns the stored text at once. VS Code then replaces
 * the ghost text with the longer one. The response, when it comes, is the last word.
 */

import * as vscode from 'vscode';
import type { CompletionDelta } from './protocol';
import { answerTexts, CompletionStream, CompletionStreams, carryOver } from './streaming';

/** languageclient's own provider call: sends `textDocument/inlineCompletion`, converts the answer. */
export type ProvideInlineCompletionItemsSignature = (
  document: vscode.TextDocument,
  position: vscode.Position,
  context: vscode.InlineCompletionContext,
  token: vscode.CancellationToken,
) => vscode.ProviderResult<vscode.InlineCompletionItem[] | vscode.InlineCompletionList>;

export interface StreamingOptions {
  enabled(): boolean;
  /** Show the text so far (true) or only the answer (false). */
  streaming(): boolean;
  /** Extra wait before a request, after VS Code's own debounce. */
  debounceMs(): number;
  /** How many items a manual trigger asks the server for (1 unless sampling). */
  alternatives(): number;
  log(message: string): void;
  /** Timing details (the output channel at trace level). */
  trace(message: string): void;
}

/** Fewest milliseconds between two re-shows of a growing suggestion (each one blinks). */
const RETRIGGER_INTERVAL_MS = 250;

function delay(milliseconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, milliseconds));
}

/** The answer's item texts: the first is the streamed completion, the rest alternatives. */
function itemTexts(result: vscode.InlineCompletionItem[] | vscode.InlineCompletionList | null | undefined): string[] {
  return answerTexts(Array.isArray(result) ? result : (result?.items ?? []));
}

export class StreamingInlineCompletions implements vscode.Disposable {
  readonly streams = new CompletionStreams();
  private retriggering = false;
  private retriggerAgain = false;
  private lastRetrigger = 0;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly options: StreamingOptions) {
    this.disposables.push(
      vscode.workspace.onDidCloseTextDocument((document) => this.streams.forget(document.uri.toString())),
      vscode.window.onDidChangeTextEditorSelection((event) => this.cancelIfMovedAway(event)),
    );
  }

  dispose(): void {
    this.streams.cancelAll();
    this.disposables.forEach((disposable) => disposable.dispose());
  }

  /** languageclient middleware: `next` sends the standard request. */
  readonly provide = async (
    document: vscode.TextDocument,
    position: vscode.Position,
    context: vscode.InlineCompletionContext,
    token: vscode.CancellationToken,
    next: ProvideInlineCompletionItemsSignature,
  ): Promise<vscode.InlineCompletionItem[] | null> => {
    if (!this.options.enabled()) {
      return null;
    }
    const called = Date.now();
    const uri = document.uri.toString();
    const key = { uri, version: document.version, position: { line: position.line, character: position.character } };
    let stream = this.streams.current(uri);
    const invoked = context.triggerKind === vscode.InlineCompletionTriggerKind.Invoke;
    if (
      stream === undefined ||
      stream.isCancelled ||
      !stream.isSameRequest(key) ||
      stream.wantsAlternatives(invoked, this.options.alternatives())
    ) {
      // A manual trigger on a typing suggestion asks again (for alternatives); keep showing
      // that suggestion meanwhile: it is the new stream's seed.
      const seed = stream?.isSameRequest(key) ? stream.shownText() : this.seedFor(stream, document, position);
      stream = this.startStream(document, position, context, next, seed);
      stream.startedByInvoke = invoked;
    }
    // Wait for the first delta (or, without streaming, the answer); a newer keystroke cancels
    // this call.
    const streaming = this.options.streaming();
    const cancelled = new Promise<void>((resolve) => token.onCancellationRequested(() => resolve()));
    while (stream.isRunning && (stream.shownText() === '' || !streaming) && !token.isCancellationRequested) {
      await Promise.race([stream.changed(), cancelled]);
    }
    if (token.isCancellationRequested) {
      if (stream.isRunning && (stream.shownText() === '' || !streaming)) {
        stream.cancel();
      }
      return null;
    }
    const text = stream.shownText();
    const texts = stream.shownTexts();
    stream.returned(texts);
    stream.lastTriggerKind = context.triggerKind;
    this.options.trace(
      `provide v${document.version} ${position.line}:${position.character} kind=${context.triggerKind} ` +
        `answered after ${Date.now() - called} ms with ${text.length} chars`,
    );
    if (text === '') {
      return null;
    }
    // Several items (a manual trigger's alternatives): VS Code cycles through them ("1/3").
    return texts.map((shown) => new vscode.InlineCompletionItem(shown, new vscode.Range(position, position)));
  };

  /** Route a `sdsat/completionDelta`; re-ask VS Code for items when the text to show grew. */
  onDelta(delta: CompletionDelta): void {
    const document = vscode.workspace.textDocuments.find((candidate) => candidate.uri.toString() === delta.uri);
    const outcome = this.streams.applyDelta(delta, document?.version);
    this.options.trace(`delta v${delta.version} offset ${delta.offset ?? '-'} +${delta.text.length} chars: ${outcome}`);
    if (outcome === 'shown' && this.options.streaming()) {
      void this.retrigger(delta.uri);
    }
  }

  private startStream(
    document: vscode.TextDocument,
    position: vscode.Position,
    context: vscode.InlineCompletionContext,
    next: ProvideInlineCompletionItemsSignature,
    seed: string,
  ): CompletionStream {
    const cancellation = new vscode.CancellationTokenSource();
    const key = { uri: document.uri.toString(), version: document.version, position: { line: position.line, character: position.character } };
    const stream = this.streams.start(key, seed, () => cancellation.cancel());
    void this.run(stream, document, position, context, next, cancellation);
    return stream;
  }

  private async run(
    stream: CompletionStream,
    document: vscode.TextDocument,
    position: vscode.Position,
    context: vscode.InlineCompletionContext,
    next: ProvideInlineCompletionItemsSignature,
    cancellation: vscode.CancellationTokenSource,
  ): Promise<void> {
    try {
      const debounce = this.options.debounceMs();
      if (debounce > 0) {
        await delay(debounce);
      }
      if (!stream.isRunning || document.version !== stream.key.version) {
        stream.cancel();
        return;
      }
      this.options.trace(`request v${document.version} ${position.line}:${position.character}`);
      const result = await next(document, position, context, cancellation.token);
      if (cancellation.token.isCancellationRequested) {
        return;
      }
      const [first = '', ...alternatives] = itemTexts(result);
      stream.finish(first, alternatives);
      if (stream.hasUnshown()) {
        void this.retrigger(stream.key.uri);
      }
    } catch (error) {
      // Superseded (RequestCancelled) or stale (ContentModified) requests end up here too.
      if (!(error instanceof vscode.CancellationError)) {
        this.options.log(`inline completion failed: ${String(error)}`);
      }
      stream.finish('');
    } finally {
      cancellation.dispose();
    }
  }

  /** The rest of the previous suggestion when the user typed its first characters. */
  private seedFor(previous: CompletionStream | undefined, document: vscode.TextDocument, position: vscode.Position): string {
    if (previous === undefined || previous.key.version >= document.version) {
      return '';
    }
    const start = new vscode.Position(previous.key.position.line, previous.key.position.character);
    if (!position.isAfter(start)) {
      return '';
    }
    return carryOver(previous.lastReturned ?? previous.shownText(), document.getText(new vscode.Range(start, position)));
  }

  private cancelIfMovedAway(event: vscode.TextEditorSelectionChangeEvent): void {
    const stream = this.streams.current(event.textEditor.document.uri.toString());
    const active = event.selections[0]?.active;
    if (stream?.isRunning && active !== undefined) {
      const { line, character } = stream.key.position;
      if (active.line !== line || active.character !== character) {
        stream.cancel();
      }
    }
  }

  /**
   * Ask VS Code to call the provider again. `editor.action.inlineSuggest.trigger` refetches only
   * when the shown items came from an automatic (typing) request: VS Code 1.100 treats an explicit
   * request at the same position and version as already satisfied by an earlier explicit one. So
   * after the first re-trigger the shown item is hidden first, then re-fetched (the provider
   * answers from the stream at once); the ghost text is gone for about one round trip to the
   * extension host. Re-triggers run one at a time; deltas that arrive meanwhile
   * are picked up by the next round.
   */
  private async retrigger(uri: string): Promise<void> {
    if (this.retriggering) {
      this.retriggerAgain = true;
      return;
    }
    this.retriggering = true;
    try {
      do {
        this.retriggerAgain = false;
        // At least one macrotask: a provider call that this delta woke answers first (and sets
        // lastReturned), so the re-trigger is skipped when it already showed the text.
        await delay(Math.max(0, this.lastRetrigger + RETRIGGER_INTERVAL_MS - Date.now()));
        this.lastRetrigger = Date.now();
        const editor = vscode.window.activeTextEditor;
        const stream = this.streams.current(uri);
        if (editor === undefined || stream === undefined || editor.document.uri.toString() !== uri) {
          return;
        }
        const active = editor.selection.active;
        const { line, character } = stream.key.position;
        if (active.line !== line || active.character !== character || editor.document.version !== stream.key.version) {
          return;
        }
        if (!stream.hasUnshown()) {
          return;
        }
        if (stream.lastTriggerKind === vscode.InlineCompletionTriggerKind.Invoke && stream.lastReturned) {
          // One round trip: `runCommands` runs both in the window without yielding to rendering.
          await vscode.commands.executeCommand('runCommands', {
            commands: ['editor.action.inlineSuggest.hide', 'editor.action.inlineSuggest.trigger'],
          });
        } else {
          await vscode.commands.executeCommand('editor.action.inlineSuggest.trigger');
        }
      } while (this.retriggerAgain);
    } finally {
      this.retriggering = false;
    }
  }
}
