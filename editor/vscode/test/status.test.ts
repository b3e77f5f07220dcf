import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ServerStatus } from '../src/protocol';
import { formatLatency, formatStatus } from '../src/status';

const ready: ServerStatus = {
  state: 'ready',
  model: 'smollm2-135m',
  device: 'cpu',
  dtype: 'float32',
  strategy: 'lookup',
  message: '',
  lastLatencyMs: 212.5,
};

test('ready: model, device and last latency in the status bar', () => {
  const view = formatStatus(ready, true, true);
  assert.equal(view.text, '$(sparkle) smollm2-135m · cpu · 213 ms');
  assert.match(view.tooltip, /strategy: lookup/);
  assert.match(formatStatus({ ...ready, k: 4, fim: false }, true, true).tooltip, /strategy: lookup \(k=4\), prefix-only prompts/);
  assert.match(view.tooltip, /Completions on/);
});

test('no latency yet, disabled, loading, error, stopped', () => {
  assert.equal(formatStatus({ ...ready, lastLatencyMs: null }, true, true).text, '$(sparkle) smollm2-135m · cpu');
  assert.equal(formatStatus(ready, false, true).text, '$(circle-slash) smollm2-135m · cpu · 213 ms');
  assert.equal(formatStatus({ ...ready, state: 'loading' }, true, true).text, '$(sync~spin) sdsat: loading smollm2-135m');
  const error = formatStatus({ ...ready, state: 'error', message: 'no such model' }, true, true);
  assert.equal(error.text, '$(error) sdsat: error');
  assert.match(error.tooltip, /no such model/);
  assert.equal(formatStatus(undefined, true, false).text, '$(circle-slash) sdsat: stopped');
  assert.equal(formatStatus(undefined, true, true).text, '$(sync~spin) sdsat: starting');
});

test('latency units', () => {
  assert.equal(formatLatency(null), '');
  assert.equal(formatLatency(999.4), '999 ms');
  assert.equal(formatLatency(1530), '1.5 s');
});
