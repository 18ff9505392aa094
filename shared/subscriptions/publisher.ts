/**
 * Publishing an event: ONE message on the event queue, whoever subscribes. The queue's handler
 * (shared/subscriptions/delivery.ts) fans it out to the subscriptions to its type, so a producer
 * waits for one queue write, never for subscribers. A failure throws (the queue unavailable): the
 * producer's caller is answered 503 and retries, and the event is not lost.
 */
import { randomBytes } from 'node:crypto';

import type { AppEvent, EventMessage } from './event-messages.js';
import type { EventData, EventType } from './event-types.js';

export class EventPublisher {
  constructor(private readonly enqueue: (message: EventMessage) => Promise<unknown>) {}

  /**
   * `id`: the event's id (its `webhook-id`), for a producer that may publish the same event twice
   * (a report Sendmode sends again): subscribers drop the repeat. Random when not given.
   */
  async publish<T extends EventType>(
    type: T,
    data: EventData<T>,
    id?: string,
  ): Promise<AppEvent<T>> {
    const event: AppEvent<T> = {
      id: id ?? `evt_${randomBytes(16).toString('hex')}`,
      type,
      timestamp: new Date().toISOString(),
      data,
    };
    await this.enqueue({ kind: 'event', event: event as AppEvent });
    return event;
  }
}
