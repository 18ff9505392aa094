import type { Logger } from '../../shared/logger.js';

/** A logger that keeps every line, so tests can assert on what was (and was not) logged. */
export function captureLog(): Logger & { lines: string[]; text(): string } {
  const lines: string[] = [];
  const push =
    (level: string) =>
    (...args: unknown[]) =>
      lines.push(
        `${level} ${args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' ')}`,
      );
  return {
    lines,
    info: push('info'),
    warn: push('warn'),
    error: push('error'),
    text: () => lines.join('\n'),
  };
}
