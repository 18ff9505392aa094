/**
 * When a change to a number's opt-out state happened, for ordering it against the others. Two
 * clocks are involved: this app's (when a delivery first reached it; every unsigned delivery and
 * every operator's removal) and a signed delivery's sender's (its webhook-timestamp), which may
 * be minutes apart. So a signed change is placed where doubt favours the opt-out: an opt-out at
 * the later of the two times of its first attempt, an opt-in at the earlier. An opt-in (or a
 * removal) then takes a number off the list only when even its earliest time is later than the
 * latest time the opt-out may have had; at a tie the opt-out stands (see `suppression.ts`).
 */

/** How a change arrived: when this app first saw it, and for a signed one, when it was signed. */
export interface DeliveryEvent {
  /** Ms since the epoch, this app's clock: the first attempt of a signed delivery. */
  firstSeenAt: number;
  /** Ms since the epoch, the sender's clock: the signed timestamp of the first attempt. */
  firstSignedAt?: number;
  /** The verified webhook-id (or svix-id), when the delivery was signed. */
  webhookId?: string;
}

/** The time (ms) `event` is ordered at, for an opt-out or for an opt-in. */
export function orderedAt(event: DeliveryEvent, action: 'opt-out' | 'opt-in'): number {
  const { firstSeenAt, firstSignedAt } = event;
  if (firstSignedAt === undefined) return firstSeenAt;
  return action === 'opt-out'
    ? Math.max(firstSeenAt, firstSignedAt)
    : Math.min(firstSeenAt, firstSignedAt);
}
