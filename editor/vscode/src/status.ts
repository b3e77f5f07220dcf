/** The status bar text and tooltip for a server status. Knows nothing of VS Code's API. */

import type { ServerStatus } from './protocol';

export interface StatusView {
  text: string;
  tooltip: string;
}

export function formatLatency(milliseconds: number | null): string {
  if (milliseconds === null || !Number.isFinite(milliseconds)) {
    return '';
  }
  return milliseconds >= 1000 ? `${(milliseconds / 1000).toFixed(1)} s` : `${Math.round(milliseconds)} ms`;
}

export function formatStatus(status: ServerStatus | undefined, enabled: boolean, running: boolean): StatusView {
  const hint = 'Click to toggle completions';
  if (!running) {
    return { text: '$(circle-slash) sdsat: stopped', tooltip: `sdsat-lsp server is not running. ${hint}` };
  }
  if (status === undefined) {
    return { text: '$(sync~spin) sdsat: starting', tooltip: `sdsat-lsp server is starting. ${hint}` };
  }
  const details = [
    `model: ${status.model}`,
    `device: ${status.device} (${status.dtype})`,
    `strategy: ${status.strategy}${status.k ? ` (k=${status.k})` : ''}${status.fim === false ? ', prefix-only prompts' : ''}`,
    `last completion: ${formatLatency(status.lastLatencyMs) || 'none yet'}`,
  ];
  if (status.message) {
    details.push(status.message);
  }
  const tooltip = `${details.join('\n')}\n${enabled ? 'Completions on' : 'Completions off'}. ${hint}`;
  if (status.state === 'loading') {
    return { text: `$(sync~spin) sdsat: loading ${status.model}`, tooltip };
  }
  if (status.state === 'error') {
    return { text: '$(error) sdsat: error', tooltip };
  }
  const parts = [status.model, status.device, formatLatency(status.lastLatencyMs)].filter((part) => part);
  const icon = enabled ? '$(sparkle)' : '$(circle-slash)';
  return { text: `${icon} ${parts.join(' · ')}`, tooltip };
}
