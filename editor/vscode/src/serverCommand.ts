/**
 * Which command starts the server. In order: `sdsat.serverCommand`; `sdsat.pythonPath`
 * (`<python> -m sdsat_lsp serve`); the Python extension's interpreter when it can import
 * sdsat_lsp; `sdsat-lsp` on PATH. The probes are passed in, so this runs without VS Code.
 */

import * as path from 'node:path';

export interface ServerCommand {
  command: string;
  args: string[];
  /** Where it came from, for the output channel and the status tooltip. */
  source: 'sdsat.serverCommand' | 'sdsat.pythonPath' | 'Python extension' | 'PATH';
}

export interface DiscoveryFailure {
  error: string;
}

export interface DiscoveryProbes {
  /** `sdsat.serverCommand` as configured. */
  serverCommand: readonly string[];
  /** `sdsat.pythonPath` as configured. */
  pythonPath: string;
  /** For ${workspaceFolder}; undefined without a folder. */
  workspaceFolder: string | undefined;
  home: string;
  /** The Python extension's interpreter for this workspace, if that extension is installed. */
  pythonExtensionInterpreter(): Promise<string | undefined>;
  /** Whether `python -c "import sdsat_lsp"` succeeds. */
  canImportServer(python: string): Promise<boolean>;
  /** Absolute path of an executable on PATH, or undefined. */
  which(name: string): Promise<string | undefined>;
}

export const SERVER_MODULE_ARGS = ['-m', 'sdsat_lsp', 'serve'];

/** `sdsat.serverCommand` as written: an array of words, or (tolerated) one string split on spaces. */
export function normalizeServerCommand(raw: unknown): string[] {
  if (Array.isArray(raw)) {
    return raw.filter((part): part is string => typeof part === 'string');
  }
  if (typeof raw === 'string') {
    return raw.trim().split(/\s+/).filter((part) => part.length > 0);
  }
  return [];
}

export function expandVariables(value: string, workspaceFolder: string | undefined, home: string): string {
  let expanded = value;
  if (workspaceFolder !== undefined) {
    expanded = expanded.split('${workspaceFolder}').join(workspaceFolder);
  }
  if (expanded === '~' || expanded.startsWith('~/')) {
    expanded = path.join(home, expanded.slice(1));
  }
  return expanded;
}

export async function discoverServerCommand(probes: DiscoveryProbes): Promise<ServerCommand | DiscoveryFailure> {
  const expand = (value: string) => expandVariables(value, probes.workspaceFolder, probes.home);
  const configured = probes.serverCommand.map((part) => part.trim()).filter((part) => part.length > 0);
  if (configured.length > 0) {
    const [command, ...args] = configured.map(expand);
    return { command, args, source: 'sdsat.serverCommand' };
  }
  if (probes.pythonPath.trim().length > 0) {
    return { command: expand(probes.pythonPath.trim()), args: [...SERVER_MODULE_ARGS], source: 'sdsat.pythonPath' };
  }
  const interpreter = await probes.pythonExtensionInterpreter();
  if (interpreter !== undefined && (await probes.canImportServer(interpreter))) {
    return { command: interpreter, args: [...SERVER_MODULE_ARGS], source: 'Python extension' };
  }
  const onPath = await probes.which('sdsat-lsp');
  if (onPath !== undefined) {
    return { command: onPath, args: ['serve'], source: 'PATH' };
  }
  const tried = interpreter === undefined ? '' : ` (the Python extension's interpreter ${interpreter} cannot import sdsat_lsp)`;
  return {
    error:
      `sdsat-lsp not found${tried}. Install it (pip install sdsat-lsp) into a Python environment and ` +
      'set "sdsat.pythonPath" to that interpreter, or put sdsat-lsp on PATH.',
  };
}

/** PATH search without spawning a shell; `isExecutable` is the only file-system access. */
export async function findOnPath(
  name: string,
  pathVariable: string | undefined,
  isExecutable: (candidate: string) => Promise<boolean>,
): Promise<string | undefined> {
  for (const directory of (pathVariable ?? '').split(path.delimiter)) {
    if (directory.length === 0) {
      continue;
    }
    const candidate = path.join(directory, name);
    if (await isExecutable(candidate)) {
      return candidate;
    }
  }
  return undefined;
}
