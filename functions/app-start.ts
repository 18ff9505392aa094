import { app } from '@azure/functions';
import { getSettings, SettingsError } from '../shared/settings.js';

// Validate settings once at start-up so a misconfiguration is named in the host log at once;
// invocations then answer 503 naming the same settings until it is fixed.
app.hook.appStart(() => {
  try {
    getSettings();
  } catch (error) {
    if (!(error instanceof SettingsError)) throw error;
    console.error(error.message);
  }
});
