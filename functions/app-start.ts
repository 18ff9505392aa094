import { app } from '@azure/functions';

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
