/** Reading the app's queues on Azurite back in tests, decoded as host.json says the host would. */
import { setTimeout as sleep } from 'node:timers/promises';

import { QueueClient } from '@azure/storage-queue';

import { queueHostConfig } from '../../shared/queues/host-config.js';

export function decode(text: string): unknown {
  const json =
    queueHostConfig().messageEncoding === 'base64'
      ? Buffer.from(text, 'base64').toString('utf8')
      : text;
  return JSON.parse(json) as unknown;
}

/** Messages in the queue, visible or not (Azurite counts exactly). */
export async function messageCount(connectionString: string, name: string): Promise<number> {
  const queue = new QueueClient(connectionString, name);
  if (!(await queue.exists())) return 0;
  return (await queue.getProperties()).approximateMessagesCount ?? 0;
}

/**
 * Takes `count` messages off the queue as they become visible, waiting up to `timeoutMs`;
 * returns each decoded body with the time it took to become visible.
 */
export async function takeMessages(
  connectionString: string,
  name: string,
  count: number,
  timeoutMs = 10_000,
): Promise<Array<{ body: unknown; waitedMs: number }>> {
  const queue = new QueueClient(connectionString, name);
  const started = Date.now();
  const out: Array<{ body: unknown; waitedMs: number }> = [];
  while (out.length < count && Date.now() - started < timeoutMs) {
    if (await queue.exists()) {
      const { receivedMessageItems } = await queue.receiveMessages({ numberOfMessages: 32 });
      for (const item of receivedMessageItems) {
        out.push({ body: decode(item.messageText), waitedMs: Date.now() - started });
        await queue.deleteMessage(item.messageId, item.popReceipt);
      }
    }
    if (out.length < count) await sleep(100);
  }
  return out;
}
