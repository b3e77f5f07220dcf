/**
 * Editor settings: the server's typed settings (mirrored from `sdsat-lsp settings --json`, never
 * written by hand: scripts/sync-settings.mjs generates them and test/settings.test.ts checks
 * them) and the few settings only the extension reads. Knows nothing of VS Code's API.
 */

/** One entry of `sdsat-lsp settings --json`. */
export interface ServerSettingSchema {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean';
  default: string | number | boolean;
  doc: string;
  enum?: string[];
}

export const SECTION = 'sdsat';

/** A `contributes.configuration.properties` entry. */
export interface PropertySchema {
  type: string | string[];
  default: unknown;
  description: string;
  enum?: string[];
  items?: { type: string };
  scope?: string;
}

/** Settings the extension reads itself; they are not sent to the server. */
export const CLIENT_PROPERTIES: Record<string, PropertySchema> = {
  'sdsat.enable': {
    type: 'boolean',
    default: true,
    description: 'Show inline completions (ghost text). `sdsat: Toggle Completions` flips it.',
  },
  'sdsat.streaming': {
    type: 'boolean',
    default: true,
    description:
      'Grow the ghost text while the model generates. VS Code has no stable API to extend a shown ' +
      'suggestion, so each step re-shows it (a brief blink); off: show the finished text only.',
  },
  'sdsat.pythonPath': {
    type: 'string',
    default: '',
    description:
      'Python interpreter with sdsat-lsp installed; the server runs as `<python> -m sdsat_lsp serve`. ' +
      'Empty: the Python extension\'s interpreter when it has sdsat-lsp, else `sdsat-lsp` on PATH. ' +
      '${workspaceFolder} and ~ are expanded.',
    scope: 'machine-overridable',
  },
  'sdsat.serverCommand': {
    type: 'array',
    items: { type: 'string' },
    default: [],
    description:
      'Full server command line, e.g. ["/opt/sdsat/bin/sdsat-lsp", "serve"]; overrides sdsat.pythonPath.',
    scope: 'machine-overridable',
  },
  'sdsat.trace.server': {
    type: 'string',
    enum: ['off', 'messages', 'verbose'],
    default: 'off',
    description: 'Log the LSP traffic in the "sdsat-lsp" output channel.',
  },
};

/** Client settings whose change needs a new server process. */
export const RESTART_SETTINGS = ['sdsat.pythonPath', 'sdsat.serverCommand'];

export function propertyFromSchema(entry: ServerSettingSchema): PropertySchema {
  const property: PropertySchema = { type: entry.type, default: entry.default, description: entry.doc };
  if (entry.enum !== undefined) {
    property.enum = [...entry.enum];
  }
  return property;
}

/** The whole `contributes.configuration.properties` object, client settings first. */
export function configurationProperties(schema: ServerSettingSchema[]): Record<string, PropertySchema> {
  const properties: Record<string, PropertySchema> = { ...CLIENT_PROPERTIES };
  for (const entry of schema) {
    properties[`${SECTION}.${entry.name}`] = propertyFromSchema(entry);
  }
  return properties;
}

/** Names (without the `sdsat.` prefix) of the server's settings among the declared properties. */
export function serverSettingNames(properties: Record<string, unknown>): string[] {
  return Object.keys(properties)
    .filter((key) => key.startsWith(`${SECTION}.`) && !(key in CLIENT_PROPERTIES))
    .map((key) => key.slice(SECTION.length + 1));
}

/**
 * The object sent as `initializationOptions` and in `workspace/didChangeConfiguration`:
 * camelCase names as the server expects them, values as the editor resolved them.
 */
export function serverSettings(
  names: string[],
  read: (name: string) => unknown,
): Record<string, unknown> {
  const settings: Record<string, unknown> = {};
  for (const name of names) {
    const value = read(name);
    if (value !== undefined && value !== null) {
      settings[name] = value;
    }
  }
  return settings;
}
