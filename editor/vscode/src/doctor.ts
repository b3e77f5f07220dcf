/**
 * "sdsat: Show Status": `sdsat-lsp doctor --json` run with the same server command and settings
 * the extension starts the server with, and the report as text (✔ fine, ✘ broken with its fix,
 * – worth knowing). Knows nothing of VS Code's API, so the tests run it against the real server.
 */

import { execFile } from 'node:child_process';
import type { ServerCommand } from './serverCommand';

export interface DoctorCheck {
  name: string;
  status: 'ok' | 'fail' | 'info';
  summary: string;
  fix: string;
}

export interface DoctorReport {
  ok: boolean;
  checks: DoctorCheck[];
}

const MARKS: Record<DoctorCheck['status'], string> = { ok: '✔', fail: '✘', info: '–' };

/** The server command with `serve` (and its flags) replaced by `doctor --json` and the settings. */
export function doctorCommand(server: ServerCommand, settings: Record<string, unknown>): { command: string; args: string[] } {
  const serve = server.args.indexOf('serve');
  const base = serve >= 0 ? server.args.slice(0, serve) : [...server.args];
  return { command: server.command, args: [...base, 'doctor', '--json', '--options', JSON.stringify(settings)] };
}

export function parseDoctorReport(stdout: string): DoctorReport | undefined {
  try {
    const report = JSON.parse(stdout) as DoctorReport;
    return Array.isArray(report?.checks) ? report : undefined;
  } catch {
    return undefined;
  }
}

export function formatDoctorReport(report: DoctorReport): string[] {
  const lines: string[] = [];
  for (const check of report.checks) {
    lines.push(`${MARKS[check.status] ?? '?'} ${check.name}: ${check.summary}`);
    if (check.fix) {
      lines.push(`    ${check.status === 'fail' ? 'fix' : 'note'}: ${check.fix}`);
    }
  }
  const failed = report.checks.filter((check) => check.status === 'fail').map((check) => check.name);
  lines.push(failed.length ? `${failed.length} problem(s): ${failed.join(', ')}` : 'no problems found');
  return lines;
}

/** Runs doctor; resolves with its stdout (it exits 1 when a check fails: the report is still there). */
export function runDoctor(command: string, args: string[], timeoutMs = 300000): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ stdout: stdout ?? '', stderr: stderr || (error ? String(error) : '') });
    });
  });
}

/** The whole "Show Status" text, or why doctor gave no report. */
export async function doctorText(server: ServerCommand, settings: Record<string, unknown>): Promise<string[]> {
  const { command, args } = doctorCommand(server, settings);
  const { stdout, stderr } = await runDoctor(command, args);
  const report = parseDoctorReport(stdout);
  const header = `${[command, ...args.slice(0, -2)].join(' ')} (server from ${server.source})`;
  if (report === undefined) {
    const reason = stderr.trim().split('\n').pop() ?? '';
    return [header, `sdsat-lsp doctor gave no report: ${reason}`, 'Update sdsat-lsp (doctor is new in 0.1), or run `sdsat-lsp doctor` in a terminal.'];
  }
  return [header, ...formatDoctorReport(report)];
}
