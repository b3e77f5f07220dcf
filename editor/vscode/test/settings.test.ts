import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import {
  CLIENT_PROPERTIES,
  configurationProperties,
  propertyFromSchema,
  ServerSettingSchema,
  serverSettingNames,
  serverSettings,
} from '../src/settings';
import { PACKAGE_ROOT, serverBinary } from './serverBinary';

function serverSchema(): ServerSettingSchema[] {
  return JSON.parse(execFileSync(serverBinary(), ['settings', '--json'], { encoding: 'utf8' }));
}

function declaredProperties(): Record<string, unknown> {
  const manifest = JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8'));
  return manifest.contributes.configuration.properties;
}

test('package.json settings equal the server schema (sdsat-lsp settings --json)', () => {
  assert.deepEqual(
    declaredProperties(),
    configurationProperties(serverSchema()),
    'run `npm run compile && npm run sync-settings` after changing sdsat_lsp/config.py',
  );
});

test('every server setting is sent to the server, no client-only one is', () => {
  const names = serverSettingNames(declaredProperties());
  assert.deepEqual(names, serverSchema().map((entry) => entry.name));
  for (const clientKey of Object.keys(CLIENT_PROPERTIES)) {
    assert.ok(!names.includes(clientKey.slice('sdsat.'.length)), clientKey);
  }
});

test('a schema entry maps to a VS Code property', () => {
  const entry: ServerSettingSchema = { name: 'device', type: 'string', default: 'auto', doc: 'Where.', enum: ['auto', 'cpu'] };
  assert.deepEqual(propertyFromSchema(entry), { type: 'string', default: 'auto', description: 'Where.', enum: ['auto', 'cpu'] });
  const integer: ServerSettingSchema = { name: 'k', type: 'integer', default: 0, doc: 'Drafts.' };
  assert.deepEqual(propertyFromSchema(integer), { type: 'integer', default: 0, description: 'Drafts.' });
});

test('serverSettings reads each name once and drops unset values', () => {
  const read: string[] = [];
  const values: Record<string, unknown> = { model: '/models/tiny', k: 0, prefixReuse: false, logFile: undefined };
  const settings = serverSettings(['model', 'k', 'prefixReuse', 'logFile'], (name) => {
    read.push(name);
    return values[name];
  });
  assert.deepEqual(settings, { model: '/models/tiny', k: 0, prefixReuse: false });
  assert.deepEqual(read, ['model', 'k', 'prefixReuse', 'logFile']);
});
