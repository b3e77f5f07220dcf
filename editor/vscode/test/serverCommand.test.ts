import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { DiscoveryProbes, discoverServerCommand, expandVariables, findOnPath, normalizeServerCommand } from '../src/serverCommand';

function probes(overrides: Partial<DiscoveryProbes> = {}): DiscoveryProbes {
  return {
    serverCommand: [],
    pythonPath: '',
    workspaceFolder: '/work/project',
    home: '/home/me',
    pythonExtensionInterpreter: async () => undefined,
    canImportServer: async () => false,
    which: async () => undefined,
    ...overrides,
  };
}

test('sdsat.serverCommand wins, with variables expanded', async () => {
  const found = await discoverServerCommand(
    probes({ serverCommand: ['${workspaceFolder}/.venv/bin/sdsat-lsp', 'serve', ' '], pythonPath: '/usr/bin/python3' }),
  );
  assert.deepEqual(found, { command: '/work/project/.venv/bin/sdsat-lsp', args: ['serve'], source: 'sdsat.serverCommand' });
});

test('sdsat.pythonPath runs the server module', async () => {
  const found = await discoverServerCommand(probes({ pythonPath: '~/venvs/sdsat/bin/python', which: async () => '/usr/bin/sdsat-lsp' }));
  assert.deepEqual(found, {
    command: '/home/me/venvs/sdsat/bin/python',
    args: ['-m', 'sdsat_lsp', 'serve'],
    source: 'sdsat.pythonPath',
  });
});

test("the Python extension's interpreter is used only when it has sdsat_lsp", async () => {
  const checked: string[] = [];
  const withServer = await discoverServerCommand(
    probes({
      pythonExtensionInterpreter: async () => '/work/project/.venv/bin/python',
      canImportServer: async (python) => {
        checked.push(python);
        return true;
      },
    }),
  );
  assert.deepEqual(withServer, { command: '/work/project/.venv/bin/python', args: ['-m', 'sdsat_lsp', 'serve'], source: 'Python extension' });
  assert.deepEqual(checked, ['/work/project/.venv/bin/python']);

  const without = await discoverServerCommand(
    probes({ pythonExtensionInterpreter: async () => '/usr/bin/python3', which: async (name) => `/usr/local/bin/${name}` }),
  );
  assert.deepEqual(without, { command: '/usr/local/bin/sdsat-lsp', args: ['serve'], source: 'PATH' });
});

test('nothing found: one error that says what to set', async () => {
  const found = await discoverServerCommand(probes({ pythonExtensionInterpreter: async () => '/usr/bin/python3' }));
  assert.ok('error' in found);
  assert.match(found.error, /sdsat\.pythonPath/);
  assert.match(found.error, /\/usr\/bin\/python3 cannot import sdsat_lsp/);
});

test('expandVariables leaves other text alone', () => {
  assert.equal(expandVariables('${workspaceFolder}/x', undefined, '/h'), '${workspaceFolder}/x');
  assert.equal(expandVariables('~', '/w', '/h'), '/h');
  assert.equal(expandVariables('/a~/b', '/w', '/h'), '/a~/b');
});

test('findOnPath returns the first executable candidate', async () => {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'sdsat-path-'));
  const binary = path.join(directory, 'sdsat-lsp');
  fs.writeFileSync(binary, '#!/bin/sh\n', { mode: 0o755 });
  const isExecutable = async (candidate: string) => fs.existsSync(candidate);
  const found = await findOnPath('sdsat-lsp', ['/nonexistent', '', directory].join(path.delimiter), isExecutable);
  assert.equal(found, binary);
  assert.equal(await findOnPath('sdsat-lsp', undefined, isExecutable), undefined);
  fs.rmSync(directory, { recursive: true });
});

test('sdsat.serverCommand as an array, a string, or junk', () => {
  assert.deepEqual(normalizeServerCommand(['/opt/bin/sdsat-lsp', 'serve', 3]), ['/opt/bin/sdsat-lsp', 'serve']);
  assert.deepEqual(normalizeServerCommand(' /opt/bin/sdsat-lsp  serve '), ['/opt/bin/sdsat-lsp', 'serve']);
  assert.deepEqual(normalizeServerCommand(undefined), []);
  assert.deepEqual(normalizeServerCommand({ command: 'x' }), []);
});
