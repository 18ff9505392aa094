/**
 * A function handler whose module is imported on its first call. The functions/*.ts modules
 * register every trigger at start-up but load what the handlers need (zod, the schemas, the
 * services) only when one runs: every cold start pays the import time of the registrations alone.
 */
export function onFirstCall<K extends string, A extends unknown[], R>(
  load: () => Promise<Record<K, (...args: A) => Promise<R>>>,
  name: K,
): (...args: A) => Promise<R> {
  let handler: Promise<(...args: A) => Promise<R>> | undefined;
  return async (...args: A) => {
    handler ??= load().then(
      (module) => module[name],
      (error: unknown) => {
        handler = undefined; // a failed import is tried again on the next call
        throw error;
      },
    );
    return (await handler)(...args);
  };
}
