// Regenerates `contributes.configuration.properties` in package.json from the server's typed
// settings (`sdsat-lsp settings --json`), or with --check fails when package.json differs.
// Needs the compiled extension (npm run compile) for the mapping in src/settings.ts.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const require = createRequire(import.meta.url);
const { configurationProperties } = require(join(root, 'out/src/settings.js'));
const { serverBinary } = require(join(root, 'out/test/serverBinary.js'));

const schema = JSON.parse(execFileSync(serverBinary(), ['settings', '--json'], { encoding: 'utf8' }));
const packagePath = join(root, 'package.json');
const text = readFileSync(packagePath, 'utf8');
const manifest = JSON.parse(text);
manifest.contributes.configuration.properties = configurationProperties(schema);
const updated = `${JSON.stringify(manifest, null, 2)}\n`;
if (process.argv.includes('--check')) {
  if (updated !== text) {
    console.error('package.json settings differ from `sdsat-lsp settings --json`: run npm run sync-settings');
    process.exit(1);
  }
} else if (updated !== text) {
  writeFileSync(packagePath, updated);
  console.log('package.json: settings updated');
}
