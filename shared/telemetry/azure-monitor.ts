/**
 * OpenTelemetry to Application Insights: the Azure Monitor distro (traces, metrics and logs,
 * Azure SDK spans for Key Vault and Storage, sampling, the `OTEL_*` variables it reads) plus the
 * Azure Functions instrumentation, which tells the host the worker sends its own logs (host.json
 * `telemetryMode: OpenTelemetry`) and runs each invocation in the host's trace. Loaded only when
 * a connection string is set (start.ts).
 */
import type { TokenCredential } from '@azure/core-auth';
import * as functions from '@azure/functions';
// A CommonJS (webpack) build whose names Node's ES module loader cannot see: take the default.
import functionsInstrumentation from '@azure/functions-opentelemetry-instrumentation';
import { shutdownAzureMonitor, useAzureMonitor } from '@azure/monitor-opentelemetry';
import { registerInstrumentations } from '@opentelemetry/instrumentation';

import { RedactingSpanProcessor, StructuredLogProcessor } from './redaction.js';
import type { TelemetryHandle } from './start.js';

/** `Authorization=AAD[;ClientId=<id>]`: export with the managed identity (local auth is off in infra/). */
async function credentialFor(
  authentication: string | undefined,
): Promise<TokenCredential | undefined> {
  const fields = new Map(
    (authentication ?? '')
      .split(';')
      .map((part) => part.split('=').map((piece) => piece.trim()))
      .filter((pair): pair is [string, string] => pair.length === 2)
      .map(([key, value]) => [key.toLowerCase(), value]),
  );
  if (fields.get('authorization')?.toUpperCase() !== 'AAD') return undefined;
  const { ManagedIdentityCredential } = await import('@azure/identity');
  const clientId = fields.get('clientid');
  return clientId ? new ManagedIdentityCredential({ clientId }) : new ManagedIdentityCredential();
}

export async function startAzureMonitor(env: NodeJS.ProcessEnv): Promise<TelemetryHandle> {
  const credential = await credentialFor(env.APPLICATIONINSIGHTS_AUTHENTICATION_STRING);
  // The cloud role Application Insights names the app by (OTEL_SERVICE_NAME wins when set).
  env.OTEL_SERVICE_NAME ??= env.WEBSITE_SITE_NAME ?? 'sendmode-connector';
  useAzureMonitor({
    // Every trace is kept: the shared limit bounds the traffic. OTEL_TRACES_SAMPLER (and _ARG)
    // choose another sampler; outcome counts come from the metrics, which are never sampled.
    samplingRatio: 1,
    tracesPerSecond: 0,
    enableTraceBasedSamplingForLogs: false,
    azureMonitorExporterOptions: {
      connectionString: env.APPLICATIONINSIGHTS_CONNECTION_STRING,
      ...(credential ? { credential } : {}),
    },
    instrumentationOptions: {
      // Sendmode calls have spans of their own (shared/telemetry/tracing.ts); Key Vault and
      // Storage are traced by the Azure SDK; the host records the requests.
      http: { enabled: false },
      azureSdk: { enabled: true },
      mongoDb: { enabled: false },
      mySql: { enabled: false },
      postgreSql: { enabled: false },
      redis: { enabled: false },
      redis4: { enabled: false },
      bunyan: { enabled: false },
      winston: { enabled: false },
      console: { enabled: false },
    },
    spanProcessors: [new RedactingSpanProcessor()],
    logRecordProcessors: [new StructuredLogProcessor()],
  });
  const instrumentation = new functionsInstrumentation.AzureFunctionsInstrumentationESM();
  registerInstrumentations({ instrumentations: [instrumentation] });
  instrumentation.registerAzFunc(functions);
  return { shutdown: () => shutdownAzureMonitor() };
}
