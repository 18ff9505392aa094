/**
 * Merged calls: queued sends that would make the same Sendmode call but for their recipients
 * (merge-key.ts) share one call, up to `SEND_MAX_RECIPIENTS_PER_CALL` recipients, across every
 * instance (pending-sends.ts holds them where all can see them).
 *
 * A delivery that finds the key's lease free becomes its collector: it waits a little for
 * company when the key is busy (a call within `SEND_MERGE_WINDOW_MS`; never on an idle key, so
 * a lone send goes at once), asks the limiter for a slot as usual, and once it has the slot
 * takes every waiting send of the key it can carry, reads the opt-out list for all their
 * recipients, and makes one call. Each send's status then gets its own recipients (and those
 * skipped) with Sendmode's answer for the call. A delivery that finds the lease held adds its
 * send to the waiting set and comes back once the collector is expected to be done; its message
 * ends when its status is final. While the budget is full the collector waits anyway (deferred
 * to its reserved slot, lease kept), so the sends arriving meanwhile ride along for free.
 *
 * A merged call Sendmode rejects for good, in a way one recipient may cause (an invalid number),
 * is split in halves, each its own call through the limiter, until the failure is isolated: only
 * the send that holds the bad number fails. A transient failure puts the others back to wait, as
 * they were, and the collector's own message is retried. A collector that dies leaves its lease
 * and the sends it took to go stale (the claim bound, outbox-sender.ts); then they are taken
 * again (at least once).
 */
import { setTimeout as sleep } from 'node:timers/promises';

import { type CallPlan, planCall, withSends } from '../delivery/delivery-store.js';
import { RateLimitedError, UnprocessableError, UpstreamRejectedError } from '../errors.js';
import { problemResponse } from '../http/problem.js';
import type { OutboxMessage } from '../outbox/outbox-message.js';
import type { OutboxDeps, OutboxOutcome } from '../outbox/outbox-sender.js';
import { answerOf, type StoredStatus } from '../outbox/send-status.js';
import { type BackgroundSlot, NotYetError } from '../queues/queue-work.js';
import type { SendSmsRequest, SendSmsResult } from '../sendmode/api.js';
import { prepareSend } from '../sendmode/api-version.js';
import { everyoneOptedOut as everyoneOptedOutError } from '../sendmode/sms-sender.js';
import { describeSms } from '../sendmode/sms-text.js';
import { mergeKeyOf } from './merge-key.js';
import type { Lease, PendingEntry, PendingSends } from './pending-sends.js';

export interface MergeDeps extends OutboxDeps {
  pending: PendingSends;
  /** SEND_MERGE_WINDOW_MS. */
  windowMs: number;
  /** SEND_MAX_RECIPIENTS_PER_CALL. */
  maxRecipients: number;
  /** SENDMODE_ACCOUNT_NAME: sends merge only within one Sendmode account. */
  account: string;
}

/** How long a split half may wait in-process for its slot (the split is rare and bounded). */
const SPLIT_SLOT_WAIT_MS = 60_000;
/** How often a collector waiting for company looks at the waiting set. */
const GATHER_POLL_MS = 250;
/** A waiting send looks again this soon after its collector is expected to be done. */
const LOOK_AGAIN_AFTER_MS = 500;

interface Member {
  id: string;
  recipients: string[];
  entry?: PendingEntry;
  remaining: string[];
  skipped: string[];
}

/** A queued send on its way to a merged call, with its key's lease being read already. */
export interface MergeStart {
  send(stored: StoredStatus, slot: BackgroundSlot): Promise<OutboxOutcome>;
}

/**
 * Starts reading the lease of the send's merge key at once, so the read goes while the caller
 * reads the send's status (one round trip, not two): the key depends only on the message.
 */
export function startMerge(
  message: OutboxMessage,
  sms: SendSmsRequest,
  deps: MergeDeps,
): MergeStart {
  let prepared: SendSmsRequest;
  try {
    prepared = prepareSend(sms, deps.rules);
  } catch (error) {
    // Thrown when sent: a send final already ends as it would have without merging.
    return { send: () => Promise.reject(error) };
  }
  // Keyed on the text as given, so the sends of one call report one `sms` (smart encoding's
  // replacements included).
  const partition = mergeKeyOf(
    { ...prepared, messagetext: sms.messagetext },
    deps.rules.version,
    deps.account,
  );
  const lease = deps.pending.lease(partition);
  // A delivery that ends before it sends never reads it: its failure is not unhandled.
  lease.catch(() => undefined);
  return {
    send: async (stored, slot) =>
      sendMerged({ message, prepared, partition, current: await lease, stored, slot }, deps),
  };
}

interface MergeTurn {
  message: OutboxMessage;
  prepared: SendSmsRequest;
  partition: string;
  current: Lease | undefined;
  stored: StoredStatus;
  slot: BackgroundSlot;
}

/**
 * A send finding the lease free becomes the collector (it needs no entry of its own: its queue
 * message is its record); one finding it held joins the waiting set and comes back later.
 */
async function sendMerged(turn: MergeTurn, deps: MergeDeps): Promise<OutboxOutcome> {
  const { message, partition, current, stored, slot } = turn;
  const now = (deps.now ?? Date.now)();
  // A collector deferred for its slot comes back to the lease it kept. (Two deliveries of one
  // send at once both pass here; the claim on its status lets only one of them call.)
  const free = !current || current.until <= now || current.holder === message.id;
  const lease = free
    ? await deps.pending.writeLease(partition, current, {
        holder: message.id,
        // Outlives every send it will take (taken within the window plus the slot wait).
        until: now + deps.windowMs + slot.maxWaitMs + 1_000 + deps.claimStaleMs,
        expectedDoneAt: now + deps.windowMs + slot.maxWaitMs,
        lastCallAt: current?.lastCallAt ?? 0,
      })
    : undefined;
  if (lease) return new Collector(partition, lease, turn, deps).run();
  await deps.pending.add(partition, {
    id: message.id,
    recipients: turn.prepared.recipients,
    queuedAt: stored.status.queuedAt,
  });
  // Lost a race for a free lease: the winner's expected end is not known, so look again soon.
  const doneAt = free ? now : (current?.expectedDoneAt ?? now);
  const waitMs = Math.min(10_000, Math.max(1_000, doneAt - now + LOOK_AGAIN_AFTER_MS));
  throw new NotYetError(waitMs / 1000, 'Waiting to share a Sendmode call.');
}

class Collector {
  private members: Member[] = [];
  private calls = 0;
  /** Where the call's delivery reports are kept (its own send first, the company once taken). */
  private plan: CallPlan | undefined;
  /** The own send's rows being written. */
  private expecting: Promise<void> | undefined;
  private stored: StoredStatus;
  private readonly message: OutboxMessage;
  private readonly prepared: SendSmsRequest;
  private readonly slot: BackgroundSlot;

  constructor(
    private readonly partition: string,
    private readonly lease: Lease,
    turn: MergeTurn,
    private readonly deps: MergeDeps,
  ) {
    this.stored = turn.stored;
    this.message = turn.message;
    this.prepared = turn.prepared;
    this.slot = turn.slot;
  }

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }

  async run(): Promise<OutboxOutcome> {
    this.expectOwn();
    const busy = this.now() - this.lease.lastCallAt < this.deps.windowMs;
    // A collector that waited for its slot has gathered company already.
    if (busy && this.slot.reservation === undefined) await this.gather();
    let answer: SendSmsResult;
    try {
      answer = await this.deps.sendmode.send(this.prepared, {
        log: this.deps.log,
        ...this.slot,
        lane: 'sends',
        beforeCall: () => this.request(),
      });
    } catch (error) {
      return this.failed(error);
    }
    this.calls++;
    await this.finish(this.members, answer);
    await this.done();
    return 'sent';
  }

  /** Waits up to the window while the waiting set is short of a full call. */
  private async gather(): Promise<void> {
    const until = this.now() + this.deps.windowMs;
    while (this.now() < until) {
      const waiting = await this.deps.pending.takeable(this.partition, this.staleBefore());
      const recipients = waiting.reduce((sum, e) => sum + e.recipients.length, 0);
      if (recipients + this.prepared.recipients.length >= this.deps.maxRecipients) return;
      await sleep(GATHER_POLL_MS);
    }
  }

  private staleBefore(): number {
    return this.now() - this.deps.claimStaleMs;
  }

  /**
   * Runs once the slot is granted: the first time, claims its own send (as a lone send does)
   * and takes the company; every time, reads the opt-out list.
   */
  private async request(): Promise<SendSmsRequest> {
    if (this.members.length > 0) return this.withoutOptedOut(this.members);
    // Steps that do not wait on each other go at once: a lone send pays few round trips.
    const claim = { ...this.stored.status, state: 'sending' as const, claimedAt: this.now() };
    const [claimed, listed] = await Promise.all([
      this.deps.statuses.update(this.stored, claim),
      this.deps.pending.takeable(this.partition, this.staleBefore()),
    ]);
    if (!claimed) throw new NotYetError(1, 'Its status changed while it waited; look again.');
    this.stored = claimed;
    const chosen = this.choose(listed);
    const everyone = [...this.prepared.recipients, ...chosen.flatMap((e) => e.recipients)];
    const company = chosen.filter((e) => e.id !== this.message.id);
    const [taken, suppressed] = await Promise.all([
      // A lone send has nothing to take: the opt-out read is its only step here.
      chosen.length > 0
        ? this.deps.pending.take(this.partition, chosen, this.message.id, this.now())
        : [],
      this.deps.suppression.suppressed(everyone),
      this.expecting,
      // Rows for sends another collector takes meanwhile are never reported: harmless.
      company.length > 0 && this.plan
        ? this.deps.deliveries?.expect(this.withCompany(this.plan, company), this.now())
        : undefined,
    ]);
    this.members = this.membersOf(taken);
    return this.withoutOptedOut(this.members, suppressed);
  }

  /**
   * The call's plan with its own send, its rows written at once (while the slot is awaited): a
   * lone send waits for nothing more. Unique per call: the collector's id and the moment.
   */
  private expectOwn(): void {
    if (!this.deps.deliveries) return;
    const own = [{ id: this.message.id, recipients: this.prepared.recipients }];
    const callId = `${this.message.id}@${this.now()}`;
    const version = this.deps.rules.version;
    this.plan = planCall(this.prepared.customerid, own, callId, version, this.now());
    this.expecting = this.deps.deliveries.expect(this.plan, this.now());
    this.expecting.catch(() => undefined); // awaited before the call
  }

  /** The plan with the company taken along (the reference and the call's row stay the same). */
  private withCompany(plan: CallPlan, company: PendingEntry[]): CallPlan {
    const sends = [...plan.sends, ...company.map((e) => ({ id: e.id, recipients: e.recipients }))];
    this.plan = withSends(plan, sends, this.deps.rules.version);
    return this.plan;
  }

  /** The waiting sends this call can carry, its own entry first, each number once. */
  private choose(listed: PendingEntry[]): PendingEntry[] {
    const ownEntry = listed.find((e) => e.id === this.message.id);
    const carried = new Set(this.prepared.recipients);
    const chosen: PendingEntry[] = ownEntry ? [ownEntry] : [];
    for (const entry of listed) {
      if (entry === ownEntry) continue;
      if (carried.size + entry.recipients.length > this.deps.maxRecipients) continue;
      // A number in two sends goes in two calls: one call texts each number once.
      if (entry.recipients.some((r) => carried.has(r))) continue;
      chosen.push(entry);
      for (const r of entry.recipients) carried.add(r);
    }
    return chosen;
  }

  private membersOf(taken: PendingEntry[]): Member[] {
    const member = (id: string, recipients: string[], entry?: PendingEntry): Member => ({
      id,
      recipients,
      remaining: recipients,
      skipped: [],
      ...(entry ? { entry } : {}),
    });
    const ownTaken = taken.find((e) => e.id === this.message.id);
    return [
      member(this.message.id, this.prepared.recipients, ownTaken),
      ...taken.filter((e) => e !== ownTaken).map((e) => member(e.id, e.recipients, e)),
    ];
  }

  /** The call for `members` without the numbers on the opt-out list now; each notes its own. */
  private async withoutOptedOut(members: Member[], read?: Set<string>): Promise<SendSmsRequest> {
    const suppressed =
      read ?? (await this.deps.suppression.suppressed(members.flatMap((m) => m.recipients)));
    for (const m of members) {
      m.remaining = m.recipients.filter((r) => !suppressed.has(r));
      m.skipped = m.recipients.filter((r) => suppressed.has(r));
    }
    const recipients = members.flatMap((m) => m.remaining);
    if (recipients.length === 0) {
      throw new UnprocessableError('Every recipient has opted out; nothing was sent.');
    }
    const reference = this.plan ? { customerid: this.plan.reference } : {};
    return { ...this.prepared, ...reference, recipients };
  }

  /** Each member's status: its own recipients with Sendmode's answer for the call. */
  private async finish(members: Member[], answer: SendSmsResult): Promise<void> {
    const finishedAt = this.now();
    const sentAt = new Date(finishedAt).toISOString();
    const callRecipients = members.reduce((sum, m) => sum + m.remaining.length, 0);
    await inBatches(members, async (m) => {
      if (m.remaining.length === 0) {
        await this.deps.statuses.finish(m.id, everyoneOptedOut(m), finishedAt);
        return;
      }
      const body = {
        ...answer,
        ...(answer.message ? { message: { ...answer.message, recipients: m.remaining } } : {}),
        ...(m.skipped.length > 0
          ? {
              skippedRecipients: m.skipped.map((recipient) => ({ recipient, reason: 'opted-out' })),
            }
          : {}),
        sms: describeSms(this.message.sms.messagetext, this.deps.rules.smartEncoding === true),
        id: m.id,
        sentAt,
        ...(members.length > 1
          ? { mergedCall: { sends: members.length, recipients: callRecipients } }
          : {}),
      };
      await this.deps.statuses.finish(
        m.id,
        { status: 200, body: JSON.stringify(body) },
        finishedAt,
        this.plan?.reference,
      );
    });
    await this.deps.pending.recordCall({
      at: finishedAt,
      sends: members.length,
      recipients: callRecipients,
    });
    await this.deps.pending.remove(this.partition, entriesOf(members));
  }

  private async failed(error: unknown): Promise<OutboxOutcome> {
    // No call went (deferred, nobody left to text), or it failed as it was: not a send to watch.
    if (this.plan && !(isolatable(error) && this.members.length > 1)) {
      await this.expecting?.catch(() => undefined);
      await this.deps.deliveries?.callFailed(this.plan).catch(() => undefined);
    }
    if (error instanceof RateLimitedError && this.members.length === 0) {
      // Keep the lease while this collector waits for its slot: company gathers meanwhile.
      const at = this.now() + error.retryAfterMs;
      await this.deps.pending.writeLease(this.partition, this.lease, {
        holder: this.message.id,
        until: at + this.deps.windowMs + 3_000 + this.deps.claimStaleMs,
        expectedDoneAt: at + 1_000,
        lastCallAt: this.lease.lastCallAt,
      });
      throw error;
    }
    if (error instanceof UnprocessableError && this.members.length > 0) {
      await this.finishFailed(this.members, error);
      await this.done();
      return 'all-opted-out';
    }
    if (isolatable(error) && this.members.length > 1) {
      this.calls++;
      await this.split(this.members);
      await this.done();
      return 'sent';
    }
    // As it was: the sends go back to wait for the next call; this delivery is retried.
    await this.deps.pending.release(this.partition, entriesOf(this.members));
    await this.releaseLease(this.lease.lastCallAt);
    throw error;
  }

  /** Sends `group` in halves until each rejection is down to the one send that causes it. */
  private async split(group: Member[]): Promise<void> {
    const half = Math.ceil(group.length / 2);
    for (const part of [group.slice(0, half), group.slice(half)]) {
      try {
        const request = { ...this.prepared, recipients: part.flatMap((m) => m.recipients) };
        this.calls++;
        const answer = await this.deps.sendmode.send(request, {
          log: this.deps.log,
          maxWaitMs: SPLIT_SLOT_WAIT_MS,
          workClass: 'background',
          lane: 'sends',
          waited: true,
          beforeCall: () => this.withoutOptedOut(part),
        });
        await this.finish(part, answer);
      } catch (error) {
        if (isolatable(error) && part.length > 1) await this.split(part);
        else if (isolatable(error) || error instanceof UnprocessableError) {
          await this.finishFailed(part, error);
        } else {
          // Not a rejection: what is left goes back to wait, and this delivery is retried.
          await this.deps.pending.release(this.partition, entriesOf(part));
          throw error;
        }
      }
    }
  }

  private async finishFailed(members: Member[], error: unknown): Promise<void> {
    const answer = answerOf(problemResponse(error));
    const finishedAt = this.now();
    await inBatches(members, (m) =>
      this.deps.statuses.finish(
        m.id,
        error instanceof UnprocessableError ? everyoneOptedOut(m) : answer,
        finishedAt,
      ),
    );
    await this.deps.pending.remove(this.partition, entriesOf(members));
  }

  private async done(): Promise<void> {
    // One line per merged call (and the calls a split cost): counts only, never numbers.
    this.deps.log.info(
      JSON.stringify({
        operation: 'merged-call',
        sends: this.members.length,
        recipients: this.members.reduce((sum, m) => sum + m.recipients.length, 0),
        calls: this.calls,
      }),
    );
    await this.releaseLease(this.now());
  }

  /**
   * Conditioned on the lease this collector wrote: one that went stale and was taken over is
   * the new collector's, and stays as it is.
   */
  private async releaseLease(lastCallAt: number): Promise<void> {
    await this.deps.pending.writeLease(this.partition, this.lease, {
      holder: '',
      until: 0,
      expectedDoneAt: 0,
      lastCallAt,
    });
  }
}

/** A rejection one recipient may cause: permanent, and not about the key. */
function isolatable(error: unknown): boolean {
  return error instanceof UpstreamRejectedError && error.permanent && !error.isAuthFailure;
}

function everyoneOptedOut(member: Member): { status: number; body: string } {
  return answerOf(problemResponse(everyoneOptedOutError(member.recipients)));
}

function entriesOf(members: Member[]): PendingEntry[] {
  return members.flatMap((m) => (m.entry ? [m.entry] : []));
}

/** Runs `work` for every item, a few at a time. */
async function inBatches<T>(
  items: T[],
  work: (item: T) => Promise<void>,
  size = 16,
): Promise<void> {
  for (let i = 0; i < items.length; i += size)
    await Promise.all(items.slice(i, i + size).map(work));
}
