/** Where the tests find `sdsat-lsp`: $SDSAT_LSP, else the repository's .venv. */

import * as fs from 'node:fs';
import * as path from 'node:path';

export const PACKAGE_ROOT = path.resolve(__dirname, '..', '..');

export function serverBinary(): string {
  const fromEnvironment = process.env.SDSAT_LSP;
  if (fromEnvironment) {
    return fromEnvironment;
  }
  const venv = path.resolve(PACKAGE_ROOT, '..', '..', '.venv', 'bin', 'sdsat-lsp');
  if (!fs.existsSync(venv)) {
    throw new Error(`sdsat-lsp not found at ${venv}: run \`make setup\` at the repository root or set SDSAT_LSP`);
  }
  return venv;
}
