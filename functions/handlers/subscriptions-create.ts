import type { HttpRequest, InvocationContext } from '@azure/functions';

import { NotFoundError } from '../../shared/errors.js';
import { handleHttp, jsonResponse, readJsonBody } from '../../shared/http/http.js';
import { parseSubscriptionRequest } from '../../shared/schemas/subscription.js';
import { getServices } from '../../shared/services.js';
import { appHostname } from '../../shared/settings.js';
import { eventTypeOfTriggerPath } from '../../shared/subscriptions/event-types.js';
import { subscriptionUrlOf } from '../../shared/subscriptions/store.js';

/**
 * Subscribes a callback URL to events: `201` with the subscription and its signing secret (shown
 * this once) and `Location`, the URL that deletes it. On a trigger's route the event is the route's.
 */
export async function subscriptionsCreate(request: HttpRequest, context: InvocationContext) {
  return handleHttp(context, 'subscriptions-create', async (log) => {
    const routeEvent = triggerEventOf(request.params.event);
    const input = parseSubscriptionRequest(
      await readJsonBody(request),
      { requestUrl: request.url, appHostname: appHostname() },
      routeEvent,
    );
    const { subscriptions } = await getServices();
    const subscription = await subscriptions.create(input);
    // The callback's host only: its path and query may carry a credential. Never the secret.
    log.subscriptionId = subscription.id;
    log.events = subscription.events;
    log.callbackHost = new URL(subscription.callbackUrl).host;
    const { id, callbackUrl, events, secret } = subscription;
    return jsonResponse(
      201,
      { id, callbackUrl, events, secret },
      {
        location: subscriptionUrlOf(new URL(request.url).origin, id),
        'cache-control': 'no-store',
      },
    );
  });
}

/** The event type of a trigger's route (`subscriptions/optout-changed`); 404 for another segment. */
function triggerEventOf(segment: string | undefined) {
  if (segment === undefined || segment === '') return undefined;
  const type = eventTypeOfTriggerPath(segment);
  if (!type) throw new NotFoundError('There is no such subscription route.');
  return type;
}
