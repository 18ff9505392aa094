import type { HttpRequest, InvocationContext } from '@azure/functions';

import { deliveryReportsStatus } from '../../shared/delivery/delivery-watch.js';
import { handleHttp, jsonResponse } from '../../shared/http/http.js';
import type { Logger } from '../../shared/logger.js';
import { API_GENERATION_NAMES } from '../../shared/sendmode/api-version.js';
import { getServices } from '../../shared/services.js';
import { getSettings, type Settings } from '../../shared/settings.js';

/**
 * Liveness and configuration, without calling Sendmode and without revealing any secret. With
 * DELIVERY_REPORTS=on, also whether sends are reported delivered: `status: "warn"` and a warning
 * when they are not (still 200: the app runs; the account or its sender id needs attention).
 */
export async function health(_request: HttpRequest, context: InvocationContext) {
  return handleHttp(context, 'health', async () => {
    const settings = getSettings();
    const delivery = settings.DELIVERY_REPORTS === 'on' ? await deliveryCheck(context) : undefined;
    return jsonResponse(200, {
      status: delivery?.warning ? 'warn' : 'ok',
      ...(delivery ? { deliveryReports: delivery } : {}),
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
      webhooks: webhookSigning(settings),
    });
  });
}

/**
 * Whether /api/optout takes only signed deliveries, and where the secret is read from: never
 * the secret, nor its name. The same rule as webhookSecretProviderFromSettings (shared/secrets.ts):
 * a secret name or a local secret requires signatures; the vault wins when both are set. With a
 * name but no vault (`none`), nothing can verify a delivery, so every one is refused.
 */
function webhookSigning(settings: Settings) {
  const signatureRequired = Boolean(
    settings.WEBHOOK_SIGNING_SECRET_NAME || settings.WEBHOOK_SIGNING_SECRET,
  );
  const secretSource: 'key-vault' | 'setting' | 'none' =
    settings.KEY_VAULT_URI && settings.WEBHOOK_SIGNING_SECRET_NAME
      ? 'key-vault'
      : settings.WEBHOOK_SIGNING_SECRET
        ? 'setting'
        : 'none';
  return { signatureRequired, secretSource };
}

/** The delivery figures, or why they could not be read (storage is not health's to fail on). */
async function deliveryCheck(log: Logger) {
  try {
    const services = await getServices();
    const status = await deliveryReportsStatus(services.deliveries, services.settings);
    return { ...status, warnings: status.warning ? [status.warning.message] : [] };
  } catch (error) {
    log.warn(
      `health: delivery figures unreadable (${error instanceof Error ? error.name : 'error'})`,
    );
    return { expected: true, unreadable: true, warning: null, warnings: [] };
  }
}
