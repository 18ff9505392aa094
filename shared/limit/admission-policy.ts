/**
 * Who gets a call slot, decided on the log in memory (the limiter stores the result with one
 * conditioned write). Two classes of work share one allowance:
 *
 * - interactive (an HTTP caller is waiting): may use the whole allowance, and may take a slot
 *   reserved for background work when that is the only room (its holder then decides afresh);
 * - background (queue work): only while every window it falls in holds fewer than
 *   `maxCalls - interactiveReserve` entries. When there is no room now it is handed the earliest
 *   future slot with room (a reservation, at most `horizonMs` ahead) and comes back then; beyond
 *   the horizon it joins a line (`tail`) that hands out return times one background slot apart,
 *   so a backlog comes back spread over time instead of all at once.
 *
 * Background work runs in two lanes. Queued sends (`lane: 'sends'`) have the first claim on the
 * background allowance: a send may take the slot reserved for other background work (imports,
 * opt-out syncs) when that is what makes room, and lines up on a line of its own (`sendTail`);
 * other background work is neither admitted nor reserved ahead of that line, so a backlog of
 * imports never holds queued sends back by more than the calls already made.
 */
import { earliestFit, type Entry, fits, isReservation, type WindowShape } from './sliding-log.js';

export type WorkClass = 'interactive' | 'background';

/** Background work's lanes: queued sends go first (see above). */
export type Lane = 'sends' | 'bulk';

/** How long after room appears a reservation begins (interactive callers' head start). */
export const INTERACTIVE_HEAD_START_MS = 50;

export interface SlotRequest {
  workClass: WorkClass;
  /** The moment of a reservation this caller was handed earlier. */
  reservation?: number;
  /** Background work that has waited its turn already (a queue message deferred before). */
  waited?: boolean;
  /** Background work's lane; `bulk` when unset. */
  lane?: Lane;
}

export type Decision =
  { admitted: true; at: number } | { admitted: false; retryAfterMs: number; reservation?: number };

export interface PolicyConfig extends WindowShape {
  maxCalls: number;
  interactiveReserve: number;
  /** How far ahead reservations are handed out. */
  horizonMs: number;
  /**
   * How long before its turn a lined-up caller comes back: close enough to take a reservation
   * it can wait for in-process, so most lined-up work is deferred only once.
   */
  lineLeadMs: number;
}

export interface LogView {
  /** Live entries, in any order. */
  entries: Entry[];
  /** Where the line of bulk background work deferred without a reservation ends (ms; 0: none). */
  tail: number;
  /** Where the line of queued sends deferred without a reservation ends (ms; 0: none). */
  sendTail: number;
}

export type Outcome =
  'admitted' | 'claimed' | 'took-reservation' | 'reserved' | 'lined-up' | 'denied';

/** Decides one request against `log`, changing it in place. */
export function decide(
  log: LogView,
  request: SlotRequest,
  now: number,
  config: PolicyConfig,
): { decision: Decision; outcome: Outcome } {
  if (request.workClass === 'interactive') return decideInteractive(log, now, config);
  const lane = request.lane ?? 'bulk';
  const claim =
    request.reservation === undefined
      ? undefined
      : claimReservation(log, request.reservation, lane, now, config);
  // Work that has waited its turn already (lined up, or its reservation was taken or missed)
  // may reserve up to twice as far ahead rather than join the back of the line again.
  const waited = request.waited === true || request.reservation !== undefined;
  const horizonMs = waited ? 2 * config.horizonMs : config.horizonMs;
  return claim ?? decideBackground(log, lane, now, config, horizonMs);
}

function decideInteractive(
  log: LogView,
  now: number,
  config: PolicyConfig,
): { decision: Decision; outcome: Outcome } {
  if (fits(log.entries, now, now, config.maxCalls, config)) {
    log.entries.push({ at: now, kind: 'i' });
    return { decision: { admitted: true, at: now }, outcome: 'admitted' };
  }
  // Take the latest reservation whose removal makes room (its holder is the furthest away),
  // other background work's before a queued send's.
  const reservations = log.entries
    .filter(isReservation)
    .sort((a, b) => Number(a.kind === 'q') - Number(b.kind === 'q') || b.at - a.at);
  for (const reservation of reservations) {
    const without = log.entries.filter((e) => e !== reservation);
    if (fits(without, now, now, config.maxCalls, config)) {
      log.entries = [...without, { at: now, kind: 'i' }];
      return { decision: { admitted: true, at: now }, outcome: 'took-reservation' };
    }
  }
  // Reservations do not count: one can be taken when its slot comes.
  const admissions = log.entries.filter((e) => !isReservation(e));
  const freeAt = earliestFit(admissions, now, 0, config.maxCalls, config);
  return {
    decision: { admitted: false, retryAfterMs: Math.max(1, freeAt - now) },
    outcome: 'denied',
  };
}

const RESERVATION_KIND: Record<Lane, 'q' | 'r'> = { sends: 'q', bulk: 'r' };

/** Uses a reservation held by the caller; undefined when it is gone or too late (decide afresh). */
function claimReservation(
  log: LogView,
  at: number,
  lane: Lane,
  now: number,
  config: PolicyConfig,
): { decision: Decision; outcome: Outcome } | undefined {
  const kind = RESERVATION_KIND[lane];
  const held = log.entries.find((e) => e.kind === kind && e.at === at);
  if (!held || now > at + config.toleranceMs) return undefined;
  if (now < at) {
    return {
      decision: { admitted: false, retryAfterMs: at - now, reservation: at },
      outcome: 'denied',
    };
  }
  // The call is made now, inside the interval the reservation occupied: no window can overflow.
  held.kind = 'b';
  held.at = now;
  return { decision: { admitted: true, at: now }, outcome: 'claimed' };
}

function decideBackground(
  log: LogView,
  lane: Lane,
  now: number,
  config: PolicyConfig,
  horizonMs: number,
): { decision: Decision; outcome: Outcome } {
  const capacity = config.maxCalls - config.interactiveReserve;
  const spacing = config.spanMs / capacity;
  // A queued send may displace other background work's reservations, so it looks for room as if
  // they were not there; other background work waits behind the line of queued sends.
  const sends = lane === 'sends';
  const competing = sends ? log.entries.filter((e) => e.kind !== 'r') : log.entries;
  const from = sends ? now : Math.max(now, log.sendTail);
  if (from === now && fits(log.entries, now, now, capacity, config)) {
    log.entries.push({ at: now, kind: 'b' });
    return { decision: { admitted: true, at: now }, outcome: 'admitted' };
  }
  if (sends && fits(competing, now, now, capacity, config)) {
    displaceBulkReservations(log, now, now, capacity, config);
    log.entries.push({ at: now, kind: 'b' });
    return { decision: { admitted: true, at: now }, outcome: 'admitted' };
  }
  // Reservations are paced one background slot apart, so queue work does not come back in
  // bursts that fill whole windows at once: an interactive caller then finds a slot (or a
  // reservation to take) within moments, not only when a burst leaves the window. Each starts a
  // little after the moment room appears, so an interactive caller waiting for that moment gets
  // there first.
  const lastBackground = Math.max(
    Number.NEGATIVE_INFINITY,
    ...competing.filter((e) => e.kind !== 'i').map((e) => e.at),
  );
  const room = earliestFit(
    competing,
    // (a reservation's moment includes the head start, so the pacing counts from before it)
    Math.max(from, lastBackground + spacing - INTERACTIVE_HEAD_START_MS),
    config.toleranceMs + INTERACTIVE_HEAD_START_MS,
    capacity,
    config,
  );
  const slot = room + INTERACTIVE_HEAD_START_MS;
  // The log stays within two limits' worth of entries (one Table Storage property holds it).
  if (room <= now + horizonMs && log.entries.length < 2 * config.maxCalls) {
    if (sends) displaceBulkReservations(log, slot, slot + config.toleranceMs, capacity, config);
    log.entries.push({ at: slot, kind: RESERVATION_KIND[lane] });
    return {
      decision: { admitted: false, retryAfterMs: slot - now, reservation: slot },
      outcome: 'reserved',
    };
  }
  // Every slot within the horizon is taken: come back when this one's turn is near, one
  // background slot's worth of time after the previous caller that was lined up in this lane.
  // If the line runs a little ahead of the slots, those coming back reserve within twice the
  // horizon.
  const turn = Math.max(sends ? log.sendTail : log.tail, slot);
  if (sends) log.sendTail = turn + spacing;
  else log.tail = turn + spacing;
  return {
    decision: {
      admitted: false,
      retryAfterMs: Math.max(1, Math.ceil(turn - config.lineLeadMs - now)),
    },
    outcome: 'lined-up',
  };
}

/**
 * Removes other background work's reservations, latest first, until an entry occupying
 * [start, end] fits: their holders find them gone when they come back, and decide afresh.
 */
function displaceBulkReservations(
  log: LogView,
  start: number,
  end: number,
  capacity: number,
  config: PolicyConfig,
): void {
  const sharingAWindow = log.entries
    .filter((e) => e.kind === 'r' && e.at + config.toleranceMs > start - config.spanMs)
    .filter((e) => e.at <= end + config.spanMs)
    .sort((a, b) => b.at - a.at);
  for (const reservation of sharingAWindow) {
    if (fits(log.entries, start, end, capacity, config)) return;
    log.entries = log.entries.filter((e) => e !== reservation);
  }
}
