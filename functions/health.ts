import { app, type HttpRequest, type InvocationContext } from '@azure/functions';
import { handleHttp, jsonResponse } from '../shared/http/http.js';
import { getSettings } from '../shared/settings.js';

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
      rateLimit: {
        maxCalls: settings.RATE_LIMIT_MAX_CALLS,
        windowSeconds: settings.RATE_LIMIT_WINDOW_SECONDS,
      },
    });
  });
}

app.http('health', { methods: ['GET'], authLevel: 'anonymous', route: 'health', handler: health });
