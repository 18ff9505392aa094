/**
 * Host log lines in the Functions host's shape: `[timestamp] message`, one line per event, with
 * the level spelled out for function (user) logs and for anything above Information.
 */
import { type HostConfig, LOG_LEVELS, type LogLevelName } from './config.js';
import type { RpcLogLevel } from './core-types.js';

const FROM_RPC: Record<RpcLogLevel, LogLevelName> = {
  trace: 'Trace',
  debug: 'Debug',
  information: 'Information',
  warning: 'Warning',
  error: 'Error',
  critical: 'Critical',
  none: 'None',
};

export function levelName(level: RpcLogLevel): LogLevelName {
  return FROM_RPC[level] ?? 'Information';
}

export interface HostLogger {
  /** A host event (Executing/Executed, start-up, queue handling). */
  host(level: LogLevelName, message: string): void;
  /** A line the function logged through its InvocationContext (category "Function.<name>.User"). */
  function(functionName: string, level: LogLevelName, message: string): void;
  /** A worker/library system log. */
  system(level: LogLevelName, message: string): void;
}

export function createLogger(
  config: Pick<HostConfig, 'logLevels'>,
  write = defaultWrite,
): HostLogger {
  const min = (categories: string[]): LogLevelName => {
    for (const category of categories) {
      const level = config.logLevels[category.toLowerCase()];
      if (level) return level;
    }
    return config.logLevels.default ?? 'Information';
  };
  const enabled = (level: LogLevelName, categories: string[]) =>
    level !== 'None' && LOG_LEVELS.indexOf(level) >= LOG_LEVELS.indexOf(min(categories));
  const line = (level: LogLevelName, text: string) => {
    const stamp = new Date().toISOString();
    // One line per record: a multi-line message (a stack) stays readable but indented.
    write(level, `[${stamp}] ${text.replace(/\n(?=.)/g, '\n    ')}`);
  };
  return {
    host(level, message) {
      if (!enabled(level, ['Host.Results', 'Host'])) return;
      line(level, level === 'Information' ? message : `${level}: ${message}`);
    },
    function(functionName, level, message) {
      const categories = [`Function.${functionName}.User`, `Function.${functionName}`, 'Function'];
      if (!enabled(level, categories)) return;
      line(level, `[${level}] Functions.${functionName}: ${message}`);
    },
    system(level, message) {
      if (!enabled(level, ['Host.Function.Console', 'Worker'])) return;
      line(level, `[${level}] (worker) ${message}`);
    },
  };
}

function defaultWrite(level: LogLevelName, text: string): void {
  if (level === 'Error' || level === 'Critical') process.stderr.write(text + '\n');
  else process.stdout.write(text + '\n');
}
