/** What the domain needs of a logger; the Functions `InvocationContext` satisfies it. */
export interface Logger {
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
}
