import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CompletionDelta } from '../src/protocol';
import { isCompletionDelta } from '../src/protocol';
import { answerTexts, carryOver, CompletionStreams, StreamKey } from '../src/streaming';

const URI = 'file:///work/app.py';
const key = (version: number, line = 3, character = 4): StreamKey => ({ uri: URI, version, position: { line, character } });
const delta = (text: string, version = 7, line = 3, character = 4, id = 1): CompletionDelta => ({
  id,
  uri: URI,
  version,
  position: { line, character },
  text,
});

test('deltas grow the shown text; the response is the last word', () => {
  const streams = new CompletionStreams();
  const stream = streams.start(key(7));
  assert.equal(stream.shownText(), '');
  assert.equal(streams.applyDelta(delta('ret'), 7), 'shown');
  assert.equal(streams.applyDelta(delta('return a'), 7), 'shown');
  assert.equal(stream.shownText(), 'return a');
  stream.finish('return a + b');
  assert.equal(stream.shownText(), 'return a + b');
  assert.equal(stream.isRunning, false);
  assert.equal(streams.applyDelta(delta('return a + b + c'), 7), 'no-stream');
  assert.equal(stream.shownText(), 'return a + b');
});

test('the response may trim what the deltas showed (stop rules)', () => {
  const streams = new CompletionStreams();
  const stream = streams.start(key(7));
  streams.applyDelta(delta('x = 1\ny = 2\n'), 7);
  stream.finish('x = 1');
  assert.equal(stream.shownText(), 'x = 1');
});

test('a delta for another version or position, or for a changed buffer, is stale', () => {
  const streams = new CompletionStreams();
  const stream = streams.start(key(7));
  assert.equal(streams.applyDelta(delta('old', 6), 7), 'stale');
  assert.equal(streams.applyDelta(delta('moved', 7, 3, 5), 7), 'stale');
  assert.equal(streams.applyDelta(delta('typed on', 7), 8), 'stale');
  assert.equal(stream.shownText(), '');
  assert.equal(streams.applyDelta(delta('ok', 7), undefined), 'shown');
});

test('a delta for a document without a stream is ignored', () => {
  const streams = new CompletionStreams();
  assert.equal(streams.applyDelta(delta('text'), 7), 'no-stream');
});

test('a late, shorter delta does not shrink the text', () => {
  const streams = new CompletionStreams();
  const stream = streams.start(key(7));
  streams.applyDelta(delta('return a + b'), 7);
  assert.equal(streams.applyDelta(delta('return'), 7), 'unchanged');
  assert.equal(stream.shownText(), 'return a + b');
});

test('a newer request cancels the older one of the same document', () => {
  const streams = new CompletionStreams();
  let cancelled = 0;
  const first = streams.start(key(7), '', () => cancelled++);
  streams.applyDelta(delta('ret'), 7);
  const second = streams.start(key(8, 3, 5));
  assert.equal(cancelled, 1);
  assert.equal(first.isCancelled, true);
  assert.equal(streams.current(URI), second);
  assert.equal(streams.applyDelta(delta('return', 7), 8), 'stale');
  first.finish('return late');
  assert.equal(first.shownText(), 'ret');
});

test('cancel runs its callback once, and not after the answer', () => {
  const streams = new CompletionStreams();
  let cancelled = 0;
  const stream = streams.start(key(7), '', () => cancelled++);
  stream.cancel();
  stream.cancel();
  assert.equal(cancelled, 1);
  const done = streams.start(key(8), '', () => cancelled++);
  assert.equal(cancelled, 1);
  done.finish('x');
  done.cancel();
  streams.forget(URI);
  assert.equal(cancelled, 1);
  assert.equal(streams.current(URI), undefined);
});

test('typing through a suggestion carries the rest over until the new stream overtakes it', () => {
  assert.equal(carryOver('return a + b', 'ret'), 'urn a + b');
  assert.equal(carryOver('return a + b', 'x'), '');
  assert.equal(carryOver('return a + b', ''), '');
  assert.equal(carryOver('ab', 'ab'), '');

  const streams = new CompletionStreams();
  const stream = streams.start(key(9, 3, 7), 'urn a + b');
  assert.equal(stream.shownText(), 'urn a + b');
  assert.equal(streams.applyDelta(delta('urn', 9, 3, 7), 9), 'unchanged');
  assert.equal(stream.shownText(), 'urn a + b');
  assert.equal(streams.applyDelta(delta('urn a + b\n', 9, 3, 7), 9), 'shown');
  assert.equal(stream.shownText(), 'urn a + b\n');
});

test('a new stream that disagrees with the carried-over text replaces it', () => {
  const streams = new CompletionStreams();
  const stream = streams.start(key(9), 'urn a + b');
  assert.equal(streams.applyDelta(delta('urn None', 9), 9), 'shown');
  assert.equal(stream.shownText(), 'urn None');
});

test('changed() resolves on the next delta and at once when not running', async () => {
  const streams = new CompletionStreams();
  const stream = streams.start(key(7));
  const waiting = stream.changed();
  streams.applyDelta(delta('r'), 7);
  await waiting;
  stream.finish('r');
  await stream.changed();
});

const append = (text: string, offset: number, version = 7, id = 1): CompletionDelta => ({ ...delta(text, version, 3, 4, id), offset });

test('append-form deltas grow the shown text like whole-text ones', () => {
  const streams = new CompletionStreams();
  const stream = streams.start(key(7));
  assert.equal(streams.applyDelta(append('ret', 0), 7), 'shown');
  assert.equal(streams.applyDelta(append('urn a', 3), 7), 'shown');
  assert.equal(stream.shownText(), 'return a');
  assert.equal(streams.applyDelta(append('', 8), 7), 'unchanged');
  stream.finish('return a + b');
  assert.equal(stream.shownText(), 'return a + b');
});

test('a stale append delta still counts for the offsets of the next one', () => {
  const streams = new CompletionStreams();
  streams.start(key(7));
  assert.equal(streams.applyDelta(append('ret', 0), 8), 'stale'); // the buffer moved on meanwhile
  const stream = streams.start(key(7)); // e.g. undo: the same version and position again
  assert.equal(streams.applyDelta(append('urn', 3), 7), 'shown');
  assert.equal(stream.shownText(), 'return');
});

test('a missing append delta shows nothing more from that request, the response still does', () => {
  const streams = new CompletionStreams();
  const stream = streams.start(key(7));
  streams.applyDelta(append('ret', 0), 7);
  assert.equal(streams.applyDelta(append(' + b', 8), 7), 'gap');
  assert.equal(stream.shownText(), 'ret');
  stream.finish('return a + b');
  assert.equal(stream.shownText(), 'return a + b');
});

test('append deltas of two requests at the same position do not mix', () => {
  const streams = new CompletionStreams();
  const stream = streams.start(key(7));
  streams.applyDelta(append('return a', 0, 7, 1), 7);
  assert.equal(streams.applyDelta(append('ret', 0, 7, 2), 7), 'unchanged'); // a newer request restarts
  assert.equal(streams.applyDelta(append(' + b', 8, 7, 1), 7), 'shown');
  assert.equal(stream.shownText(), 'return a + b');
  assert.equal(streams.applyDelta(append('urn a + b + c', 3, 7, 2), 7), 'shown');
  assert.equal(stream.shownText(), 'return a + b + c');
});

test('isCompletionDelta checks the notification shape', () => {
  assert.ok(isCompletionDelta(delta('x')));
  assert.ok(!isCompletionDelta({ ...delta('x'), version: '7' }));
  assert.ok(!isCompletionDelta({ uri: URI, text: 'x' }));
  assert.ok(!isCompletionDelta(null));
});

test('an answer with alternatives: the streamed text first, then the others, no repeats', () => {
  const streams = new CompletionStreams();
  const stream = streams.start(key(9));
  assert.equal(streams.applyDelta(delta('return a', 9), 9), 'shown');
  assert.deepEqual(stream.shownTexts(), ['return a'], 'alternatives wait for the answer');
  const answer = [{ insertText: 'return a + b' }, { insertText: { value: 'return b' } }, { insertText: 'return a + b' }, { insertText: '' }];
  const [first = '', ...others] = answerTexts(answer);
  assert.deepEqual([first, ...others], ['return a + b', 'return b', 'return a + b', '']);
  stream.finish(first, others);
  assert.deepEqual(stream.shownTexts(), ['return a + b', 'return b']);
});

test('alternatives that come with the answer count as unshown until a provider call hands them over', () => {
  const streams = new CompletionStreams();
  const stream = streams.start(key(9));
  streams.applyDelta(delta('return a', 9), 9);
  assert.ok(stream.hasUnshown(), 'nothing handed over yet');
  stream.returned(stream.shownTexts());
  assert.ok(!stream.hasUnshown());
  stream.finish('return a', ['return b', 'return c']);
  // Same first text: only the further items are new, and VS Code learns of them only by asking again.
  assert.ok(stream.hasUnshown());
  stream.returned(stream.shownTexts());
  assert.ok(!stream.hasUnshown());
});

test('a manual trigger on a finished typing suggestion asks again for alternatives, once', () => {
  const streams = new CompletionStreams();
  const typing = streams.start(key(9));
  streams.applyDelta(delta('return a', 9), 9);
  assert.ok(!typing.wantsAlternatives(true, 3), 'running: a provider call is the extension re-showing it');
  typing.finish('return a');
  assert.ok(!typing.wantsAlternatives(true, 3), 'the answer is not shown yet: the next call is a re-trigger');
  typing.returned(typing.shownTexts());
  assert.ok(typing.wantsAlternatives(true, 3));
  assert.ok(!typing.wantsAlternatives(false, 3), 'typing keeps one item');
  assert.ok(!typing.wantsAlternatives(true, 1), 'not sampling: one item is all there is');
  const manual = streams.start(key(9), typing.shownText());
  manual.startedByInvoke = true;
  manual.finish('return b', ['return a']);
  manual.returned(manual.shownTexts());
  assert.ok(!manual.wantsAlternatives(true, 3), 'already a manual request');
});
