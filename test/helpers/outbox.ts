/**
 * Runs the send queue's handler in this test process as the host would: each visible message on
 * the queue is handed over as its text with its Storage id and dequeue count, and deleted after
 * (a throw leaves it for a later round, as the host's own redelivery would).
 */
import { setTimeout as sleep } from 'node:timers/promises';

import { InvocationContext } from '@azure/functions';
import { QueueClient } from '@azure/storage-queue';

import { sendQueuedSms } from '../../functions/send-queued-sms.js';

export interface Drained {
  handled: number;
  logs: string[];
}

/**
 * Hands every message visible on `queueName` to the handler, round after round, until none is
 * visible for `quietMs` (deferred ones come back), or with `untilEmpty` until the queue holds
 * none at all, or `timeoutMs` passes.
 */
export async function drainOutbox(
  connectionString: string,
  queueName: string,
  {
    quietMs = 0,
    timeoutMs = 20_000,
    untilEmpty = false,
  }: { quietMs?: number; timeoutMs?: number; untilEmpty?: boolean } = {},
): Promise<Drained> {
  const queue = new QueueClient(connectionString, queueName);
  await queue.createIfNotExists();
  const logs: string[] = [];
  let handled = 0;
  const started = Date.now();
  let quietSince = Date.now();
  while (Date.now() - started < timeoutMs) {
    const { receivedMessageItems } = await queue.receiveMessages({
      numberOfMessages: 32,
      visibilityTimeout: 30,
    });
    if (receivedMessageItems.length === 0) {
      if (untilEmpty) {
        if ((await queue.getProperties()).approximateMessagesCount === 0) break;
      } else if (Date.now() - quietSince >= quietMs) break;
      await sleep(100);
      continue;
    }
    await Promise.all(
      receivedMessageItems.map(async (item) => {
        const context = new InvocationContext({
          functionName: 'send-queued-sms',
          invocationId: `inv-${Math.random().toString(36).slice(2)}`,
          triggerMetadata: { id: item.messageId, dequeueCount: item.dequeueCount },
          logHandler: (level, ...args) => logs.push(`${level} ${args.join(' ')}`),
        });
        await sendQueuedSms(item.messageText, context);
        await queue.deleteMessage(item.messageId, item.popReceipt);
        handled++;
      }),
    );
    quietSince = Date.now();
  }
  return { handled, logs };
}
