/**
 * Telemetry starts only when `APPLICATIONINSIGHTS_CONNECTION_STRING` is set (and
 * `OTEL_SDK_DISABLED` is not `true`): then the OpenTelemetry SDK and the Azure Monitor exporter
 * are imported and registered before the host asks for the worker's capabilities. Unset, this
 * module is all that loads: the cold start pays for one environment read.
 */
export interface TelemetryHandle {
  /** Flushes what is buffered and stops exporting. */
  shutdown(): Promise<void>;
}

export function telemetryConfigured(env: NodeJS.ProcessEnv = process.env): boolean {
  return (
    (env.APPLICATIONINSIGHTS_CONNECTION_STRING ?? '').trim() !== '' &&
    (env.OTEL_SDK_DISABLED ?? '').trim().toLowerCase() !== 'true'
  );
}

/** Starts the exporter when configured; a failure to start is logged and never stops the app. */
export async function startTelemetry(
  env: NodeJS.ProcessEnv = process.env,
): Promise<TelemetryHandle | undefined> {
  if (!telemetryConfigured(env)) return undefined;
  try {
    const { startAzureMonitor } = await import('./azure-monitor.js');
    return await startAzureMonitor(env);
  } catch (error) {
    // Named, not quoted: the message of a configuration error could hold the connection string.
    console.error(
      `Telemetry did not start (${error instanceof Error ? error.name : typeof error}); the app runs without it.`,
    );
    return undefined;
  }
}
