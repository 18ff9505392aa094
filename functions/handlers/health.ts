import type { HttpRequest, InvocationContext } from '@azure/functions';
import { handleHttp, jsonResponse } from '../../shared/http/http.js';
import { API_GENERATION_NAMES } from '../../shared/sendmode/api-version.js';
import { getSettings } from '../../shared/settings.js';

/** Liveness and configuration, without calling Sendmode and without revealing any secret. */
export async function health(_request: HttpRequest, context: InvocationContext) {
  return handleHttp(context, 'health', async () => {
    const settings = getSettings();
    return jsonResponse(200, {
      status: 'ok',
      apiKeySource: settings.KEY_VAULT_URI
        ? 'key-vault'
        : settings.SENDMODE_API_KEY
          ? 'setting'
          : 'none',
      // Which Sendmode API generation the app speaks: a wrong choice sends nothing (see README).
      sendmodeApi: {
        version: settings.SENDMODE_API_VERSION,
        name: API_GENERATION_NAMES[settings.SENDMODE_API_VERSION],
      },
      rateLimit: {
        maxCalls: settings.RATE_LIMIT_MAX_CALLS,
        windowSeconds: settings.RATE_LIMIT_WINDOW_SECONDS,
      },
    });
  });
}
