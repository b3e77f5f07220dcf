import assert from 'node:assert/strict';
import { test } from 'node:test';
import { doctorCommand, doctorText, formatDoctorReport, parseDoctorReport } from '../src/doctor';
import { serverBinary } from './serverBinary';

test('doctor runs with the server command and settings the extension starts the server with', () => {
  const python = doctorCommand({ command: '/venv/bin/python', args: ['-m', 'sdsat_lsp', 'serve'], source: 'sdsat.pythonPath' }, { model: 'm' });
  assert.deepEqual(python, { command: '/venv/bin/python', args: ['-m', 'sdsat_lsp', 'doctor', '--json', '--options', '{"model":"m"}'] });
  const flags = doctorCommand({ command: 'sdsat-lsp', args: ['serve', '--tcp', '127.0.0.1:1'], source: 'sdsat.serverCommand' }, {});
  assert.deepEqual(flags.args, ['doctor', '--json', '--options', '{}']);
});

test('the report shows every check, the fix under each failure, and a summary', () => {
  const lines = formatDoctorReport({
    ok: false,
    checks: [
      { name: 'torch', status: 'ok', summary: 'torch 2.13.0 (CPU build)', fix: '' },
      { name: 'model x', status: 'fail', summary: 'not on this machine', fix: 'sdsat-lsp fetch-model x' },
      { name: 'cuda', status: 'info', summary: 'no CUDA GPU', fix: 'fine for small models' },
    ],
  });
  assert.deepEqual(lines, [
    '✔ torch: torch 2.13.0 (CPU build)',
    '✘ model x: not on this machine',
    '    fix: sdsat-lsp fetch-model x',
    '– cuda: no CUDA GPU',
    '    note: fine for small models',
    '1 problem(s): model x',
  ]);
  assert.equal(parseDoctorReport('not json'), undefined);
});

test('Show Status text from the real sdsat-lsp doctor', { timeout: 300000 }, async () => {
  // A model path that does not exist: doctor reports it (with the fix) without loading anything.
  const lines = await doctorText({ command: serverBinary(), args: ['serve'], source: 'PATH' }, { model: '/no/such/model' });
  assert.match(lines[0], /sdsat-lsp doctor --json \(server from PATH\)$/);
  assert.ok(lines.some((line) => line.startsWith('✔ python: Python 3.')), lines.join('\n'));
  assert.ok(lines.includes('✘ model /no/such/model: /no/such/model is neither a registry name nor a folder'), lines.join('\n'));
  assert.ok(lines.some((line) => line.startsWith('    fix: set `model` to a registry name')), lines.join('\n'));
  assert.ok(lines.some((line) => line.startsWith('– completion: test completion not run')), lines.join('\n'));
});
