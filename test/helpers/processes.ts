/**
 * Child processes for end-to-end tests: the local functions host and the Sendmode simulator,
 * each started as users start them (node --import tsx <entry>), on free ports, with their
 * output kept for assertions. Every child still running when the test process exits is killed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import { freePort } from './free-port.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

const running = new Set<ChildProcess>();
let exitHook = false;

export interface Child {
  process: ChildProcess;
  /** Everything printed so far (stdout and stderr, interleaved as received). */
  output(): string;
  /** Resolves with the first output line matching `pattern`, printed since `from` (an output() length). */
  waitFor(pattern: RegExp, timeoutMs?: number, from?: number): Promise<RegExpExecArray>;
  /** Sends `signal` and resolves with the exit code (SIGKILL after `timeoutMs`). */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
  exited: Promise<number | null>;
}

export function spawnNode(
  args: string[],
  options: {
    env?: Record<string, string | undefined>;
    cwd?: string;
    echo?: string;
    /** Keep only the last few kilobytes of output (benchmarks: a busy host logs a lot). */
    tailOnly?: boolean;
  } = {},
): Child {
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => {
      for (const child of running) child.kill('SIGKILL');
    });
  }
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries({ ...process.env, ...options.env })) {
    if (value !== undefined) env[name] = value;
  }
  const child = spawn(process.execPath, args, {
    cwd: options.cwd ?? ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let text = '';
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    text += chunk.toString('utf8');
    if (options.tailOnly && text.length > 8192) text = text.slice(-4096);
    if (options.echo) process.stdout.write(`[${options.echo}] ${chunk.toString('utf8')}`);
    for (const listener of listeners) listener();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<number | null>((done) =>
    child.once('close', (code) => {
      running.delete(child);
      for (const listener of listeners) listener();
      done(code);
    }),
  );

  return {
    process: child,
    output: () => text,
    exited,
    waitFor(pattern, timeoutMs = 20_000, from = 0) {
      return new Promise((done, reject) => {
        const check = () => {
          const lines = text.slice(from).split('\n');
          for (const line of lines) {
            const match = pattern.exec(line);
            if (match) {
              cleanup();
              done(match);
              return;
            }
          }
          if (child.exitCode !== null || child.signalCode !== null) {
            cleanup();
            reject(new Error(`Process exited before printing ${pattern}:\n${text.slice(-3000)}`));
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`Timed out waiting for ${pattern}:\n${text.slice(-3000)}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
    async stop(signal = 'SIGTERM', timeoutMs = 15_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      // Unref'd: a pending time-out must not keep the test process alive once the child is gone.
      const timeout = sleep(timeoutMs, undefined, { ref: false }).then(() => 'timeout' as const);
      const code = await Promise.race([exited, timeout]);
      if (code === 'timeout') {
        child.kill('SIGKILL');
        return exited;
      }
      return code;
    },
  };
}

export interface SimulatorProcess extends Child {
  /** Base URL including /v2: what SENDMODE_BASE_URL is set to. */
  url: string;
  origin: string;
  calls(
    operation?: string,
  ): Promise<{ operation: string; arrivedAt: number; httpStatus: number; payload: unknown }[]>;
}

export async function startSimulatorProcess(apiKey: string): Promise<SimulatorProcess> {
  const child = spawnNode([
    '--import',
    'tsx',
    'tools/sendmode-simulator/main.ts',
    '--port',
    '0',
    '--key',
    apiKey,
    '--balance',
    '1000000',
    '--quiet',
  ]);
  const [, url = ''] = await child.waitFor(/listening on (http:\/\/\S+)/);
  const origin = new URL(url).origin;
  return {
    ...child,
    url,
    origin,
    async calls(operation) {
      const query = operation ? `?operation=${operation}` : '';
      const res = await fetch(`${origin}/__admin/calls${query}`);
      const body = (await res.json()) as {
        calls: { operation: string; arrivedAt: number; httpStatus: number; payload: unknown }[];
      };
      return body.calls;
    },
  };
}

export interface HostProcess extends Child {
  port: number;
  url: string;
}

/** Starts tools/local-host/main.ts and waits until it answers /admin/host/status. */
export async function startHostProcess(
  options: {
    app?: string;
    env?: Record<string, string | undefined>;
    args?: string[];
    echo?: string;
  } = {},
): Promise<HostProcess> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const child = spawnNode(
      [
        '--import',
        'tsx',
        join(ROOT, 'tools/local-host/main.ts'),
        ...(options.app ? ['--app', options.app] : []),
        ...(options.args ?? []),
      ],
      {
        env: { ...options.env, PORT: String(port) },
        ...(options.echo ? { echo: options.echo } : {}),
      },
    );
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.process.exitCode !== null) break;
      try {
        const res = await fetch(`${url}/admin/host/status`);
        if (res.ok) return { ...child, port, url };
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        await child.stop('SIGKILL');
        throw new Error(`The host did not start within 30 s:\n${child.output()}`);
      }
      await sleep(50);
    }
    // A port found free can be taken by a parallel test before the host binds it: retry.
    if (attempt >= 3 || !/unavailable \(in use\)/.test(child.output())) {
      throw new Error(`The host exited during start-up:\n${child.output()}`);
    }
  }
}
