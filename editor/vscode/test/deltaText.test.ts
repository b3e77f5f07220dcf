import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DeltaTexts } from '../src/deltaText';
import type { CompletionDelta } from '../src/protocol';
import { isCompletionDelta, requestAppendDeltas } from '../src/protocol';

const delta = (text: string, offset?: number, id: number | string = 1): CompletionDelta => ({
  id,
  uri: 'file:///app.py',
  version: 7,
  position: { line: 3, character: 4 },
  text,
  ...(offset === undefined ? {} : { offset }),
});

/** What the server sends for a sequence of texts so far (sdsat_lsp/server/transport.py). */
function appendDeltas(texts: string[], id: number | string = 1): CompletionDelta[] {
  let before = '';
  return texts.map((text) => {
    let keep = 0;
    while (keep < Math.min(before.length, text.length) && before[keep] === text[keep]) {
      keep++;
    }
    if (keep > 0 && keep < text.length && /[\udc00-\udfff]/.test(text[keep])) {
      keep--; // the server counts whole code points: it never splits a surrogate pair
    }
    before = text;
    return delta(text.slice(keep), keep, id);
  });
}

test('append deltas rebuild the text so far, each character sent once', () => {
  const texts = new DeltaTexts();
  const sequence = ['ret', 'return a', 'return a + b', 'return a + b\n'];
  const sent = appendDeltas(sequence);
  assert.deepEqual(
    sent.map((d) => [d.offset, d.text]),
    [
      [0, 'ret'],
      [3, 'urn a'],
      [8, ' + b'],
      [12, '\n'],
    ],
  );
  assert.deepEqual(
    sent.map((d) => texts.apply(d)),
    sequence,
  );
});

test('an offset inside the text replaces its tail (the server rewrote it)', () => {
  const texts = new DeltaTexts();
  texts.apply(delta('x = 10', 0));
  assert.equal(texts.apply(delta('1\n', 5)), 'x = 11\n');
  assert.equal(texts.apply(delta('', 3)), 'x =');
});

test('offsets count UTF-16 code units, as the server does', () => {
  const texts = new DeltaTexts();
  const sequence = ['s = "😀', 's = "😀é"', 's = "😀é" # 😀'];
  const sent = appendDeltas(sequence);
  assert.deepEqual(
    sent.map((d) => d.offset),
    [0, 7, 9],
  );
  assert.deepEqual(
    sent.map((d) => texts.apply(d)),
    sequence,
  );
});

test('a gap makes the text unknown until a delta with offset 0', () => {
  const texts = new DeltaTexts();
  texts.apply(delta('ret', 0));
  assert.equal(texts.apply(delta('a + b', 8)), undefined, 'offset past the 3 units held');
  assert.equal(texts.apply(delta('c', 3)), undefined, 'still unknown: the missing delta may have changed the tail');
  assert.equal(texts.apply(delta('return a', 0)), 'return a');
  assert.equal(texts.apply(delta(' + b', 8)), 'return a + b');
});

test('an unknown request is a gap unless it starts at offset 0', () => {
  const texts = new DeltaTexts();
  assert.equal(texts.apply(delta('urn', 3, 5)), undefined);
  assert.equal(texts.apply(delta('ret', 0, 6)), 'ret');
});

test('requests are rebuilt independently, and only the latest few are kept', () => {
  const texts = new DeltaTexts(2);
  texts.apply(delta('aaa', 0, 1));
  texts.apply(delta('bbb', 0, 2));
  assert.equal(texts.apply(delta('A', 3, 1)), 'aaaA');
  assert.equal(texts.apply(delta('B', 3, 2)), 'bbbB');
  texts.apply(delta('ccc', 0, 3)); // evicts request 1, the least recently updated
  assert.equal(texts.apply(delta('A', 4, 1)), undefined);
  assert.equal(texts.apply(delta('B', 4, 2)), 'bbbBB');
  assert.equal(texts.apply(delta('x', 0, '2')), 'x', "a string id is another request than the number");
});

test('the whole-text form (no offset) still works, for servers without the append form', () => {
  const texts = new DeltaTexts();
  assert.equal(texts.apply(delta('ret')), 'ret');
  assert.equal(texts.apply(delta('return')), 'return');
  assert.equal(texts.apply(delta('re')), 're', 'a whole text is taken as it is');
});

test('isCompletionDelta accepts an offset only as a non-negative integer', () => {
  assert.ok(isCompletionDelta(delta('x', 0)));
  assert.ok(isCompletionDelta(delta('x', 12)));
  assert.ok(!isCompletionDelta(delta('x', -1)));
  assert.ok(!isCompletionDelta(delta('x', 1.5)));
  assert.ok(!isCompletionDelta({ ...delta('x'), offset: '3' }));
});

test('the initialize capability asks for the append form and keeps other experimental entries', () => {
  const capabilities: { experimental?: unknown } = { experimental: { other: true, sdsat: { kept: 1 } } };
  requestAppendDeltas(capabilities);
  assert.deepEqual(capabilities.experimental, { other: true, sdsat: { kept: 1, completionDelta: 'append' } });
  const empty: { experimental?: unknown } = {};
  requestAppendDeltas(empty);
  assert.deepEqual(empty.experimental, { sdsat: { completionDelta: 'append' } });
});
