/**
 * Supplies `@azure/functions-core` in this process, so that `@azure/functions` registers the
 * app's functions and hooks with the local host exactly as it does with the Functions worker in
 * Azure: `app.http(...)`, `app.storageQueue(...)` and `app.hook.*(...)` end up in this module's
 * registry; there is no second routing table.
 *
 * How the module is supplied: functions-core.cjs (beside this file) exports the object built
 * here (through a global symbol), and both resolvers point the bare name at that file: the
 * CommonJS one (`Module._resolveFilename`, what `require()` inside the library's CommonJS bundle
 * uses on Node 20) and, for loaders that route `require` through the ES module hooks (Node 22 with
 * tsx), a `module.register()` resolve hook. Both must be in place before the app is imported.
 */
import { randomUUID } from 'node:crypto';
import Module, { register } from 'node:module';
import { fileURLToPath } from 'node:url';

import type {
  FunctionCallback,
  FunctionMetadata,
  HookCallback,
  HookName,
  ProgrammingModel,
  RpcBindingInfo,
  RpcLogCategory,
  RpcLogLevel,
} from './core-types.js';

export const CORE_MODULE = '@azure/functions-core';
const GLOBAL_KEY = Symbol.for('sendmode-connector.local-host.functions-core');
const CORE_FILE = fileURLToPath(new URL('./functions-core.cjs', import.meta.url));

/** One function as the app registered it. */
export interface RegisteredFunction {
  id: string;
  name: string;
  bindings: Record<string, RpcBindingInfo>;
  callback: FunctionCallback;
  /** The one binding whose type ends in "Trigger". */
  triggerName: string;
  trigger: RpcBindingInfo & { type: string };
  retryOptions?: unknown;
}

/** A `Disposable` as the worker exports it. */
export class Disposable {
  #callOnDispose: (() => unknown) | undefined;
  static from(...likes: { dispose: () => unknown }[]): Disposable {
    return new Disposable(() => {
      for (const like of likes) like.dispose();
    });
  }
  constructor(callOnDispose: () => unknown) {
    this.#callOnDispose = callOnDispose;
  }
  dispose(): unknown {
    const call = this.#callOnDispose;
    this.#callOnDispose = undefined;
    return call?.();
  }
}

export type SystemLogSink = (level: RpcLogLevel, category: RpcLogCategory, message: string) => void;

export interface CoreRegistry {
  functions: RegisteredFunction[];
  hooks: Record<HookName, HookCallback[]>;
  programmingModel(): ProgrammingModel | undefined;
  /** Called once the app is loaded: later registrations throw, as in the worker. */
  lock(): void;
}

/**
 * Builds the module object, installs it for both resolvers and returns the registry it fills.
 * Call once, before importing the app.
 */
export function installFunctionsCore(options: {
  hostVersion: string;
  log: SystemLogSink;
}): CoreRegistry {
  const functions: RegisteredFunction[] = [];
  const hooks: Record<HookName, HookCallback[]> = {
    appStart: [],
    appTerminate: [],
    preInvocation: [],
    postInvocation: [],
    log: [],
  };
  let model: ProgrammingModel | undefined;
  let locked = false;

  const api = {
    version: `local-host (${options.hostVersion})`,
    hostVersion: options.hostVersion,
    Disposable,
    registerFunction(metadata: FunctionMetadata, callback: FunctionCallback): Disposable {
      if (locked) {
        throw new Error('A function can only be registered during app startup.');
      }
      const name = metadata.name;
      if (!name) throw new Error('A function must have a name.');
      if (functions.some((f) => f.name.toLowerCase() === name.toLowerCase())) {
        throw new Error(`A function with name "${name}" has already been registered.`);
      }
      const triggers = Object.entries(metadata.bindings).filter(
        ([, b]) => typeof b.type === 'string' && /trigger$/i.test(b.type),
      );
      const first = triggers[0];
      if (triggers.length !== 1 || !first) {
        throw new Error(`Function "${name}" must have exactly one trigger binding.`);
      }
      const [triggerName, trigger] = first;
      const fn: RegisteredFunction = {
        id: metadata.functionId ?? randomUUID(),
        name,
        bindings: metadata.bindings,
        callback,
        triggerName,
        trigger: trigger as RegisteredFunction['trigger'],
        retryOptions: metadata.retryOptions,
      };
      functions.push(fn);
      return new Disposable(() => {
        if (locked) throw new Error('A function can only be disposed during app startup.');
        functions.splice(functions.indexOf(fn), 1);
      });
    },
    registerHook(hookName: string, callback: HookCallback): Disposable {
      const list = hooks[hookName as HookName];
      if (!list) throw new RangeError(`Unrecognized hook "${hookName}".`);
      list.push(callback);
      return new Disposable(() => {
        const at = list.indexOf(callback);
        if (at >= 0) list.splice(at, 1);
      });
    },
    setProgrammingModel(programmingModel: ProgrammingModel): void {
      model = programmingModel;
    },
    getProgrammingModel(): ProgrammingModel | undefined {
      return model;
    },
    log(level: RpcLogLevel, category: RpcLogCategory, message: string): void {
      options.log(level, category, message);
    },
  };

  (globalThis as Record<symbol, unknown>)[GLOBAL_KEY] = api;

  // CommonJS: `require('@azure/functions-core')` from the library's bundle.
  const cjs = Module as unknown as {
    _resolveFilename: (request: string, ...rest: unknown[]) => string;
  };
  const resolveFilename = cjs._resolveFilename;
  cjs._resolveFilename = function (this: unknown, request: string, ...rest: unknown[]) {
    if (request === CORE_MODULE) return CORE_FILE;
    return resolveFilename.call(this, request, ...rest);
  };

  // ES module hooks (and `require` routed through them by customized loaders).
  const hook = `export async function resolve(specifier, context, next) {
    if (specifier === ${JSON.stringify(CORE_MODULE)}) {
      return { url: ${JSON.stringify(new URL('./functions-core.cjs', import.meta.url).href)}, format: 'commonjs', shortCircuit: true };
    }
    return next(specifier, context);
  }`;
  register(`data:text/javascript,${encodeURIComponent(hook)}`);

  return {
    functions,
    hooks,
    programmingModel: () => model,
    lock() {
      locked = true;
    },
  };
}
