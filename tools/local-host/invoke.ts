/**
 * One invocation, driven as the Node.js worker drives it: the programming model the library set
 * (`getInvocationModel`) converts the RPC request into the handler's arguments
 * (`getArguments`: InvocationContext, HttpRequest / queue message, trigger metadata), runs the
 * handler (`invokeFunction`) and converts its result back (`getResponse`: toRpcHttp/toRpcTypedData),
 * with preInvocation and postInvocation hooks around the handler, and the host's
 * Executing/Executed lines around it all.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';

import type { CoreRegistry, RegisteredFunction } from './core-api.js';
import type {
  CoreInvocationContext,
  HookCallback,
  RpcInvocationRequest,
  RpcInvocationResponse,
  RpcLogCategory,
  RpcLogLevel,
} from './core-types.js';
import { type HostLogger, levelName } from './log.js';

export interface InvocationOutcome {
  invocationId: string;
  ok: boolean;
  response?: RpcInvocationResponse;
  error?: unknown;
  durationMs: number;
}

export interface Invoker {
  invoke(
    fn: RegisteredFunction,
    request: RpcInvocationRequest,
    reason: string,
    /** The trigger data could not be bound (e.g. a message that is not base64): fail without running. */
    bindingError?: Error,
  ): Promise<InvocationOutcome>;
  /** Runs a hook list (appStart, appTerminate) with a fresh context. */
  runAppHooks(name: 'appStart' | 'appTerminate', extra?: Record<string, unknown>): Promise<void>;
  /** Routes a system log (not tied to an invocation) through the log hooks to the logger. */
  systemLog(level: RpcLogLevel, category: RpcLogCategory, message: string): void;
}

export function describeError(error: unknown): string {
  if (error instanceof Error) return error.stack ?? `${error.name}: ${error.message}`;
  return String(error);
}

export function createInvoker(options: {
  registry: CoreRegistry;
  logger: HostLogger;
  appDir: string;
  functionTimeoutMs: number | undefined;
}): Invoker {
  const { registry, logger } = options;
  const appHookData: Record<string, unknown> = {};

  async function runHooks(list: HookCallback[], context: Record<string, unknown>): Promise<void> {
    for (const hook of [...list]) await hook(context);
  }

  /** Log hooks may rewrite level and message (LogHookContext); then the line is written. */
  function emit(
    level: RpcLogLevel,
    category: RpcLogCategory,
    message: string,
    fnName: string | undefined,
    invocationContext: unknown,
  ): void {
    const record: Record<string, unknown> = {
      hookData: {},
      appHookData,
      level,
      category,
      message,
      invocationContext,
    };
    for (const hook of registry.hooks.log) {
      try {
        void hook(record);
      } catch (error) {
        logger.system('Error', `A log hook threw: ${describeError(error)}`);
      }
    }
    const finalLevel = levelName((record.level as RpcLogLevel) ?? level);
    const text = String(record.message ?? message);
    if (category === 'user' && fnName) logger.function(fnName, finalLevel, text);
    else logger.system(finalLevel, text);
  }

  async function invoke(
    fn: RegisteredFunction,
    request: RpcInvocationRequest,
    reason: string,
    bindingError?: Error,
  ): Promise<InvocationOutcome> {
    const invocationId = randomUUID();
    const started = performance.now();
    logger.host(
      'Information',
      `Executing 'Functions.${fn.name}' (Reason='${reason}', Id=${invocationId})`,
    );
    let invocationContext: unknown;
    const coreContext: CoreInvocationContext = {
      invocationId,
      request: { ...request, invocationId, functionId: fn.id },
      metadata: {
        name: fn.name,
        functionId: fn.id,
        bindings: fn.bindings,
        directory: options.appDir,
      },
      log: (level, category, message) => emit(level, category, message, fn.name, invocationContext),
    };
    const finish = (outcome: Omit<InvocationOutcome, 'invocationId' | 'durationMs'>) => {
      const durationMs = performance.now() - started;
      const status = outcome.ok ? 'Succeeded' : 'Failed';
      if (!outcome.ok) {
        logger.host(
          'Error',
          `Executed 'Functions.${fn.name}' (${status}, Id=${invocationId}, Duration=${Math.round(durationMs)}ms)\n` +
            `Result: Failure\nException: ${describeError(outcome.error)}`,
        );
      } else {
        logger.host(
          'Information',
          `Executed 'Functions.${fn.name}' (${status}, Id=${invocationId}, Duration=${Math.round(durationMs)}ms)`,
        );
      }
      return { invocationId, durationMs, ...outcome };
    };

    if (bindingError) return finish({ ok: false, error: bindingError });
    try {
      const model = registry.programmingModel();
      if (!model) throw new Error('No programming model was set by the app.');
      const invocationModel = model.getInvocationModel(coreContext);
      const { context, inputs } = await invocationModel.getArguments();
      invocationContext = context;

      const hookData: Record<string, unknown> = {};
      const pre: Record<string, unknown> = {
        hookData,
        appHookData,
        invocationContext: context,
        inputs,
        functionCallback: fn.callback,
      };
      coreContext.state = 'preInvocationHooks';
      try {
        await runHooks(registry.hooks.preInvocation, pre);
      } finally {
        coreContext.state = undefined;
      }

      let result: unknown;
      let error: unknown;
      coreContext.state = 'invocation';
      try {
        const running = invocationModel.invokeFunction(
          context,
          pre.inputs as unknown[],
          pre.functionCallback as RegisteredFunction['callback'],
        );
        result = await withTimeout(running, options.functionTimeoutMs, fn.name, invocationId);
      } catch (caught) {
        error = caught;
      } finally {
        coreContext.state = undefined;
      }

      const post: Record<string, unknown> = {
        hookData,
        appHookData,
        invocationContext: context,
        inputs: pre.inputs,
        result,
        error,
      };
      coreContext.state = 'postInvocationHooks';
      try {
        await runHooks(registry.hooks.postInvocation, post);
      } finally {
        coreContext.state = undefined;
      }
      if (post.error !== undefined && post.error !== null) throw post.error;
      const response = await invocationModel.getResponse(context, post.result);
      return finish({ ok: true, response });
    } catch (error) {
      return finish({ ok: false, error });
    }
  }

  return {
    invoke,
    async runAppHooks(name, extra = {}) {
      await runHooks(registry.hooks[name], {
        hookData: {},
        appHookData,
        functionAppDirectory: options.appDir,
        ...extra,
      });
    },
    systemLog(level, category, message) {
      emit(level, category, message, undefined, undefined);
    },
  };
}

class FunctionTimeoutError extends Error {
  override name = 'FunctionTimeoutException';
}

async function withTimeout<T>(
  work: Promise<T>,
  timeoutMs: number | undefined,
  fnName: string,
  invocationId: string,
): Promise<T> {
  if (timeoutMs === undefined) return work;
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new FunctionTimeoutError(
            `Timeout value of ${formatSpan(timeoutMs)} was exceeded by function: Functions.${fnName} (Id=${invocationId}).` +
              ' The local host cannot stop the handler; its result will be ignored.',
          ),
        ),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}

function formatSpan(ms: number): string {
  const s = Math.floor(ms / 1000);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(Math.floor(s / 3600))}:${pad(Math.floor((s % 3600) / 60))}:${pad(s % 60)}`;
}
