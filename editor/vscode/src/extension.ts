/**
 * Entry point: starts `sdsat-lsp serve` through vscode-languageclient, wires the streaming ghost
 * text, the status bar and the commands. Behaviour stays in the Python server; this file only
 * connects VS Code to it.
 */

import { execFile } from 'node:child_process';
import { constants as fsConstants, promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as vscode from 'vscode';
import {
  DidChangeConfigurationNotification,
  LanguageClient,
  LanguageClientOptions,
  LogMessageNotification,
  MessageType,
  ServerOptions,
  State,
  StaticFeature,
  TransportKind,
} from 'vscode-languageclient/node';
import { StreamingInlineCompletions } from './inlineCompletions';
import { COMPLETION_DELTA, isCompletionDelta, LATENCY_PREFIX, requestAppendDeltas, ServerStatus, STATUS } from './protocol';
import { discoverServerCommand, findOnPath, normalizeServerCommand, ServerCommand } from './serverCommand';
import { RESTART_SETTINGS, SECTION, serverSettingNames, serverSettings } from './settings';
import { formatStatus } from './status';
import { doctorText } from './doctor';

/** The languages the server has tree-sitter grammars for. */
export const LANGUAGES = ['python', 'javascript', 'javascriptreact', 'typescript', 'typescriptreact', 'go', 'rust', 'c', 'cpp', 'java'];

/** Asks the server for `sdsat/completionDelta` in the append form (offset + new text). */
const APPEND_DELTAS: StaticFeature = {
  fillClientCapabilities: requestAppendDeltas,
  initialize: () => undefined,
  getState: () => ({ kind: 'static' }),
  clear: () => undefined,
};

/** VS Code's fixed debounce before it calls inline completion providers (1.100). */
const VSCODE_INLINE_DEBOUNCE_MS = 50;

function config(): vscode.WorkspaceConfiguration {
  return vscode.workspace.getConfiguration(SECTION);
}

async function isExecutable(candidate: string): Promise<boolean> {
  try {
    await fs.access(candidate, fsConstants.X_OK);
    return (await fs.stat(candidate)).isFile();
  } catch {
    return false;
  }
}

function canImportServer(python: string): Promise<boolean> {
  return new Promise((resolve) => {
    execFile(python, ['-c', 'import sdsat_lsp'], { timeout: 15000 }, (error) => resolve(error === null));
  });
}

/** The interpreter the Python extension (ms-python.python) selected for this workspace. */
async function pythonExtensionInterpreter(): Promise<string | undefined> {
  const extension = vscode.extensions.getExtension('ms-python.python');
  if (extension === undefined) {
    return undefined;
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the Python extension's API is untyped here
    const api: any = extension.isActive ? extension.exports : await extension.activate();
    const resource = vscode.workspace.workspaceFolders?.[0]?.uri;
    const environmentPath = api?.environments?.getActiveEnvironmentPath?.(resource);
    if (environmentPath !== undefined) {
      const environment = await api.environments.resolveEnvironment(environmentPath);
      const executable: string | undefined = environment?.executable?.uri?.fsPath;
      if (executable) {
        return executable;
      }
    }
    const execCommand: string[] | undefined = api?.settings?.getExecutionDetails?.(resource)?.execCommand;
    return execCommand?.[0];
  } catch {
    return undefined;
  }
}

class SdsatExtension implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private serverCommand: ServerCommand | undefined;
  private status: ServerStatus | undefined;
  private readonly output = vscode.window.createOutputChannel('sdsat-lsp', { log: true });
  private readonly latencyOutput = vscode.window.createOutputChannel('sdsat-lsp latency');
  private readonly statusOutput = vscode.window.createOutputChannel('sdsat-lsp status');
  private readonly statusItem = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Right, 100);
  private readonly completions: StreamingInlineCompletions;
  private readonly serverNames: string[];

  constructor(context: vscode.ExtensionContext) {
    const properties = context.extension.packageJSON?.contributes?.configuration?.properties ?? {};
    this.serverNames = serverSettingNames(properties);
    this.completions = new StreamingInlineCompletions({
      enabled: () => config().get<boolean>('enable', true),
      streaming: () => config().get<boolean>('streaming', true),
      // VS Code already waits 50 ms after the last keystroke before it asks the provider.
      debounceMs: () => Math.max(0, config().get<number>('debounceMs', 75) - VSCODE_INLINE_DEBOUNCE_MS),
      alternatives: () => (config().get<number>('temperature', 0) > 0 ? config().get<number>('alternatives', 1) : 1),
      log: (message) => this.output.warn(message),
      trace: (message) => this.output.trace(message),
    });
    this.statusItem.command = 'sdsat.toggleCompletions';
    this.statusItem.name = 'sdsat-lsp';
    this.updateStatusBar();
    this.statusItem.show();
  }

  dispose(): void {
    this.completions.dispose();
    this.statusItem.dispose();
    this.output.dispose();
    this.latencyOutput.dispose();
    this.statusOutput.dispose();
  }

  private settingsForServer(): Record<string, unknown> {
    return serverSettings(this.serverNames, (name) => config().get(name));
  }

  private updateStatusBar(): void {
    const running = this.client?.state === State.Running || this.client?.state === State.Starting;
    const view = formatStatus(this.status, config().get<boolean>('enable', true), running);
    this.statusItem.text = view.text;
    this.statusItem.tooltip = this.serverCommand
      ? `${view.tooltip}\nserver: ${[this.serverCommand.command, ...this.serverCommand.args].join(' ')} (from ${this.serverCommand.source})`
      : view.tooltip;
  }

  async start(): Promise<void> {
    const found = await discoverServerCommand({
      serverCommand: normalizeServerCommand(config().get<unknown>('serverCommand')),
      pythonPath: config().get<string>('pythonPath', ''),
      workspaceFolder: vscode.workspace.workspaceFolders?.[0]?.uri.fsPath,
      home: os.homedir(),
      pythonExtensionInterpreter,
      canImportServer,
      which: (name) => findOnPath(name, process.env.PATH, isExecutable),
    });
    if ('error' in found) {
      this.output.info(found.error);
      this.updateStatusBar();
      void vscode.window.showErrorMessage(found.error, 'Open Settings').then((choice) => {
        if (choice) {
          void vscode.commands.executeCommand('workbench.action.openSettings', 'sdsat.pythonPath');
        }
      });
      return;
    }
    this.serverCommand = found;
    this.output.info(`starting ${[found.command, ...found.args].join(' ')} (from ${found.source})`);
    const serverOptions: ServerOptions = { command: found.command, args: found.args, transport: TransportKind.stdio };
    const clientOptions: LanguageClientOptions = {
      documentSelector: LANGUAGES.flatMap((language) => [
        { scheme: 'file', language },
        { scheme: 'untitled', language },
      ]),
      initializationOptions: this.settingsForServer(),
      outputChannel: this.output,
      middleware: { provideInlineCompletionItems: this.completions.provide },
    };
    const client = new LanguageClient(SECTION, 'sdsat-lsp', serverOptions, clientOptions);
    this.client = client;
    client.registerFeature(APPEND_DELTAS);
    let deltaFormLogged = false;
    client.onDidChangeState(() => this.updateStatusBar());
    client.onNotification(COMPLETION_DELTA, (params: unknown) => {
      if (isCompletionDelta(params)) {
        if (!deltaFormLogged) {
          deltaFormLogged = true;
          this.output.info(`completion deltas: ${params.offset === undefined ? 'whole text' : 'append'} form`);
        }
        this.completions.onDelta(params);
      }
    });
    client.onNotification(STATUS, (params: ServerStatus) => {
      this.status = params;
      this.updateStatusBar();
    });
    try {
      await client.start();
    } catch (error) {
      this.output.info(`server failed to start: ${String(error)}`);
      this.updateStatusBar();
      return;
    }
    const capabilities = client.initializeResult?.capabilities;
    this.output.info(
      `server ${client.initializeResult?.serverInfo?.name ?? '?'} capabilities: ` +
        `inlineCompletionProvider=${JSON.stringify(capabilities?.inlineCompletionProvider ?? null)} ` +
        `textDocumentSync=${JSON.stringify(capabilities?.textDocumentSync ?? null)}`,
    );
    // Replaces languageclient's own logMessage handler: latency lines go to their own channel.
    client.onNotification(LogMessageNotification.type, ({ type, message }) => {
      if (message.startsWith(LATENCY_PREFIX)) {
        this.latencyOutput.appendLine(message.slice(LATENCY_PREFIX.length));
      } else {
        this.logServerMessage(type, message);
      }
    });
    try {
      this.status = await client.sendRequest<ServerStatus>(STATUS, {});
    } catch {
      // An older server without the status request: the notifications still arrive.
    }
    this.updateStatusBar();
  }

  private logServerMessage(type: MessageType, message: string): void {
    switch (type) {
      case MessageType.Error:
        this.output.error(message);
        break;
      case MessageType.Warning:
        this.output.warn(message);
        break;
      case MessageType.Info:
        this.output.info(message);
        break;
      default:
        this.output.debug(message);
    }
  }

  async stop(): Promise<void> {
    this.completions.streams.cancelAll();
    const client = this.client;
    this.client = undefined;
    this.status = undefined;
    if (client !== undefined) {
      try {
        await client.stop(5000);
      } catch (error) {
        this.output.info(`server did not stop cleanly: ${String(error)}`);
      }
    }
    this.updateStatusBar();
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async onConfigurationChanged(event: vscode.ConfigurationChangeEvent): Promise<void> {
    if (!event.affectsConfiguration(SECTION)) {
      return;
    }
    if (RESTART_SETTINGS.some((name) => event.affectsConfiguration(name))) {
      await this.restart();
      return;
    }
    this.updateStatusBar();
    if (this.client?.state === State.Running) {
      await this.client.sendNotification(DidChangeConfigurationNotification.type, {
        settings: { [SECTION]: this.settingsForServer() },
      });
    }
  }

  async toggleCompletions(): Promise<void> {
    const enabled = !config().get<boolean>('enable', true);
    await config().update('enable', enabled, vscode.ConfigurationTarget.Global);
    if (!enabled) {
      this.completions.streams.cancelAll();
    }
    this.updateStatusBar();
    void vscode.window.setStatusBarMessage(`sdsat: completions ${enabled ? 'on' : 'off'}`, 2000);
  }

  async openLatencyLog(): Promise<void> {
    const logFile = config().get<string>('logFile', '');
    if (logFile) {
      try {
        await vscode.window.showTextDocument(vscode.Uri.file(logFile), { preview: true });
        return;
      } catch {
        this.latencyOutput.appendLine(`(cannot open ${logFile}; showing this session's lines)`);
      }
    }
    this.latencyOutput.show(true);
  }

  /** "sdsat: Show Status": the status bar's details, then `sdsat-lsp doctor` for these settings. */
  async showStatus(): Promise<void> {
    const running = this.client?.state === State.Running;
    const view = formatStatus(this.status, config().get<boolean>('enable', true), running);
    this.statusOutput.clear();
    this.statusOutput.show(true);
    this.statusOutput.appendLine(`${view.text.replace(/^\$\([^)]*\) /, '')}\n${view.tooltip}\n`);
    if (this.serverCommand === undefined) {
      this.statusOutput.appendLine('sdsat-lsp not found: set "sdsat.pythonPath" to the Python that has it installed.');
      return;
    }
    const server = this.serverCommand;
    const title = 'sdsat: running sdsat-lsp doctor (loads the model once)';
    const lines = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title }, () =>
      doctorText(server, this.settingsForServer()),
    );
    lines.forEach((line) => this.statusOutput.appendLine(line));
  }
}

let extension: SdsatExtension | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const instance = new SdsatExtension(context);
  extension = instance;
  context.subscriptions.push(
    instance,
    vscode.commands.registerCommand('sdsat.restartServer', () => instance.restart()),
    vscode.commands.registerCommand('sdsat.toggleCompletions', () => instance.toggleCompletions()),
    vscode.commands.registerCommand('sdsat.openLatencyLog', () => instance.openLatencyLog()),
    vscode.commands.registerCommand('sdsat.showStatus', () => instance.showStatus()),
    vscode.workspace.onDidChangeConfiguration((event) => instance.onConfigurationChanged(event)),
  );
  await instance.start();
}

export async function deactivate(): Promise<void> {
  await extension?.stop();
  extension = undefined;
}
