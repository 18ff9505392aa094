import type { HttpRequest, InvocationContext } from '@azure/functions';

import { NotFoundError } from '../../shared/errors.js';
import { handleHttp } from '../../shared/http/http.js';
import { getServices } from '../../shared/services.js';
import { isSubscriptionId } from '../../shared/subscriptions/store.js';

/** Deletes a subscription (a trigger removed from its flow): `204`, or `404` for an unknown id. */
export async function subscriptionsDelete(request: HttpRequest, context: InvocationContext) {
  return handleHttp(context, 'subscriptions-delete', async (log) => {
    const id = request.params.id ?? '';
    // Only an id of the form ids have is logged: the segment is the caller's text.
    if (isSubscriptionId(id)) log.subscriptionId = id;
    const { subscriptions } = await getServices();
    if (!(await subscriptions.delete(id))) throw new NotFoundError('No subscription has this id.');
    return { status: 204 };
  });
}
