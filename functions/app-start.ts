import { app } from '@azure/functions';

import { startTelemetry } from '../shared/telemetry/start.js';

// Telemetry (only when APPLICATIONINSIGHTS_CONNECTION_STRING is set) must be registered before
// the host asks for the worker's capabilities, so the entry module waits for it here.
const telemetry = await startTelemetry();
if (telemetry) app.hook.appTerminate(() => telemetry.shutdown());

// Validate settings once at start-up so a misconfiguration is named in the host log at once;
// invocations then answer 503 naming the same settings until it is fixed. The settings module
// (zod) is imported inside the hook, not at import, to keep the cold start short.
app.hook.appStart(async () => {
  const { getSettings, SettingsError } = await import('../shared/settings.js');
  try {
    getSettings();
  } catch (error) {
    if (!(error instanceof SettingsError)) throw error;
    console.error(error.message);
  }
});
