import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CompletionDelta } from '../src/protocol';
import { isCompletionDelta } from '../src/protocol';
import { carryOver, CompletionStreams, StreamKey } from '../src/streaming';

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

test('isCompletionDelta checks the notification shape', () => {
  assert.ok(isCompletionDelta(delta('x')));
  assert.ok(!isCompletionDelta({ ...delta('x'), version: '7' }));
  assert.ok(!isCompletionDelta({ uri: URI, text: 'x' }));
  assert.ok(!isCompletionDelta(null));
});
