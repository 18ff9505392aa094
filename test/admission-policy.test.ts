/**
 * The shared limit's policy on the log in memory: classes of work, the interactive reserve,
 * reservations (handed out, claimed, taken, too late) and the line beyond the horizon; and,
 * as a property over random traffic, that the calls actually made never exceed the limit in any
 * window, and background calls never exceed the limit less the reserve.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import {
  decide,
  type Decision,
  INTERACTIVE_HEAD_START_MS,
  type Lane,
  type LogView,
  type PolicyConfig,
} from '../shared/limit/admission-policy.js';
import { census, earliestFit, fits, prune } from '../shared/limit/sliding-log.js';
import { maxInAnyWindow } from './helpers/limit-run.js';

const config: PolicyConfig = {
  maxCalls: 10,
  interactiveReserve: 2,
  spanMs: 1_000,
  toleranceMs: 100,
  horizonMs: 1_000,
  lineLeadMs: 100,
};
const T0 = 1_000_000;

function emptyLog(): LogView {
  return { entries: [], tail: 0, sendTail: 0 };
}

function many(log: LogView, n: number, workClass: 'interactive' | 'background', now: number) {
  return Array.from({ length: n }, () => decide(log, { workClass }, now, config));
}

function reservationOf(decision: Decision): number {
  if (decision.admitted || decision.reservation === undefined) throw new Error('no reservation');
  return decision.reservation;
}

describe('classes of work', () => {
  it('background stops at maxCalls - reserve; interactive may use the rest', () => {
    const log = emptyLog();
    const background = many(log, 8, 'background', T0);
    expect(background.every((r) => r.outcome === 'admitted')).toBe(true);
    const ninth = decide(log, { workClass: 'background' }, T0, config);
    expect(ninth.outcome).toBe('reserved');
    // The reservation sits just after the first admissions leave the window (interactive
    // callers get a head start on that moment).
    expect(reservationOf(ninth.decision)).toBe(T0 + config.spanMs + INTERACTIVE_HEAD_START_MS);
    const interactive = many(log, 2, 'interactive', T0);
    expect(interactive.map((r) => r.outcome)).toEqual(['admitted', 'admitted']);
    expect(decide(log, { workClass: 'interactive' }, T0, config).outcome).toBe('denied');
  });

  it('interactive work may use the whole allowance when nothing else runs', () => {
    const log = emptyLog();
    expect(many(log, 10, 'interactive', T0).every((r) => r.outcome === 'admitted')).toBe(true);
    const denied = decide(log, { workClass: 'interactive' }, T0 + 10, config);
    expect(denied.decision).toEqual({ admitted: false, retryAfterMs: config.spanMs - 10 });
  });

  it('a reserve of 0 lets background work use every call', () => {
    const log = emptyLog();
    const noReserve = { ...config, interactiveReserve: 0 };
    const results = Array.from({ length: 10 }, () =>
      decide(log, { workClass: 'background' }, T0, noReserve),
    );
    expect(results.every((r) => r.outcome === 'admitted')).toBe(true);
  });

  it('interactive admissions count against background work too', () => {
    const log = emptyLog();
    many(log, 7, 'interactive', T0);
    expect(many(log, 2, 'background', T0).map((r) => r.outcome)).toEqual(['admitted', 'reserved']);
  });
});

describe('reservations', () => {
  it('are claimed at their moment without another contest, and count from then on', () => {
    const log = emptyLog();
    many(log, 8, 'background', T0);
    const at = reservationOf(decide(log, { workClass: 'background' }, T0, config).decision);
    // Everything else is refused in the meantime, so the holder never competes again.
    const claim = decide(log, { workClass: 'background', reservation: at }, at + 40, config);
    expect(claim).toEqual({ decision: { admitted: true, at: at + 40 }, outcome: 'claimed' });
    expect(log.entries.filter((e) => e.kind === 'r')).toHaveLength(0);
    expect(log.entries.filter((e) => e.kind === 'b' && e.at === at + 40)).toHaveLength(1);
  });

  it('a holder that comes early is told to wait and keeps its reservation', () => {
    const log = emptyLog();
    many(log, 8, 'background', T0);
    const at = reservationOf(decide(log, { workClass: 'background' }, T0, config).decision);
    const early = decide(log, { workClass: 'background', reservation: at }, at - 300, config);
    expect(early.decision).toEqual({ admitted: false, retryAfterMs: 300, reservation: at });
    expect(log.entries.filter((e) => e.kind === 'r')).toHaveLength(1);
  });

  it('a holder that comes after its tolerance decides afresh (stale reservations are dropped)', () => {
    const log = emptyLog();
    many(log, 8, 'background', T0);
    const at = reservationOf(decide(log, { workClass: 'background' }, T0, config).decision);
    const late = at + config.toleranceMs + 1;
    const fresh: LogView = {
      entries: prune(log.entries, late, config),
      tail: log.tail,
      sendTail: log.sendTail,
    };
    expect(fresh.entries.some((e) => e.kind === 'r')).toBe(false);
    const result = decide(fresh, { workClass: 'background', reservation: at }, late, config);
    expect(result.outcome).toBe('admitted'); // the first eight left the window at T0 + span
  });

  it('interactive work takes a reservation when that is the only room; its holder then reserves again', () => {
    const log = emptyLog();
    many(log, 8, 'background', T0);
    many(log, 2, 'interactive', T0);
    const held = reservationOf(decide(log, { workClass: 'background' }, T0, config).decision);
    // At T0 + span the first ten leave; interactive work fills every slot but the reserved one.
    log.entries = prune(log.entries, held, config);
    expect(many(log, 9, 'interactive', held).every((r) => r.outcome === 'admitted')).toBe(true);
    expect(log.entries.filter((e) => e.kind === 'r')).toHaveLength(1);
    const taker = decide(log, { workClass: 'interactive' }, held + 1, config);
    expect(taker.outcome).toBe('took-reservation');
    expect(log.entries.filter((e) => e.kind === 'r')).toHaveLength(0);
    const back = decide(log, { workClass: 'background', reservation: held }, held + 5, config);
    expect(back.outcome).toBe('reserved');
    expect(reservationOf(back.decision)).toBe(held + config.spanMs + INTERACTIVE_HEAD_START_MS);
  });
});

describe('interactive callers who must wait', () => {
  it('are told to come back when a call leaves the window, reservations or not, and get there first', () => {
    const log = emptyLog();
    many(log, 8, 'background', T0);
    many(log, 2, 'interactive', T0);
    // Queue work holds the slot that frees first, a head start after it frees.
    expect(decide(log, { workClass: 'background' }, T0 + 5, config).outcome).toBe('reserved');
    const waiting = decide(log, { workClass: 'interactive' }, T0 + 10, config);
    expect(waiting.decision).toEqual({ admitted: false, retryAfterMs: config.spanMs - 10 });
    const back = T0 + config.spanMs;
    const served = many(log, 2, 'interactive', back);
    expect(served.map((r) => r.outcome)).toEqual(['admitted', 'admitted']);
  });
});

describe('pacing', () => {
  it('hands out reservations one background slot apart, not in a burst', () => {
    const log = emptyLog();
    many(log, 8, 'background', T0);
    const later = T0 + 600; // the horizon now reaches T0 + 1600
    const held = many(log, 5, 'background', later)
      .filter((r) => r.outcome === 'reserved')
      .map((r) => reservationOf(r.decision));
    const slotMs = config.spanMs / (config.maxCalls - config.interactiveReserve);
    expect(held[0]).toBe(T0 + config.spanMs + INTERACTIVE_HEAD_START_MS);
    expect(held.length).toBeGreaterThanOrEqual(4);
    const gaps = held.slice(1).map((at, i) => at - (held[i] as number));
    for (const gap of gaps) expect(gap).toBe(slotMs);
  });
});

describe('the line beyond the horizon', () => {
  it('hands out return times one background slot apart, so a backlog comes back spread out', () => {
    const log = emptyLog();
    const results = many(log, 40, 'background', T0);
    const outcomes = results.map((r) => r.outcome);
    expect(outcomes.filter((o) => o === 'admitted')).toHaveLength(8);
    // Reservations are paced one background slot apart: one fits within the horizon now.
    expect(outcomes.filter((o) => o === 'reserved')).toHaveLength(1);
    const lined = results.filter((r) => r.outcome === 'lined-up').map((r) => r.decision);
    expect(lined).toHaveLength(31);
    const waits = lined.map((d) => (d.admitted ? 0 : d.retryAfterMs));
    const gaps = waits.slice(1).map((w, i) => w - (waits[i] as number));
    const slotMs = config.spanMs / (config.maxCalls - config.interactiveReserve);
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(Math.floor(slotMs));
    // The log stays short: the line is one number, not entries.
    expect(log.entries.length).toBe(9);
    expect(log.tail).toBeGreaterThan(T0 + config.horizonMs);
  });

  it('a lined-up caller coming back at its turn finds a reservation within the horizon', () => {
    const log = emptyLog();
    const results = many(log, 30, 'background', T0);
    const first = results.find((r) => r.outcome === 'lined-up')?.decision;
    if (!first || first.admitted) throw new Error('expected a lined-up caller');
    const back = T0 + first.retryAfterMs;
    // The reservations handed out earlier are claimed on time.
    for (const r of results.filter((x) => x.outcome === 'reserved')) {
      const at = reservationOf(r.decision);
      decide(log, { workClass: 'background', reservation: at }, at, config);
    }
    const view: LogView = {
      entries: prune(log.entries, back, config),
      tail: log.tail,
      sendTail: log.sendTail,
    };
    expect(decide(view, { workClass: 'background' }, back, config).outcome).toMatch(
      /admitted|reserved/,
    );
  });
});

describe('sliding log arithmetic', () => {
  it('an interval entry counts in every window it touches', () => {
    const entries = [{ at: 100, kind: 'r' as const }];
    const shape = { spanMs: 50, toleranceMs: 20 };
    // A moment fits when no window holds both it and any part of [100, 120].
    expect(fits(entries, 50, 50, 1, shape)).toBe(true); // (0, 50] ends before 100
    expect(fits(entries, 51, 51, 1, shape)).toBe(false); // (50, 100] holds both
    expect(fits(entries, 110, 110, 1, shape)).toBe(false);
    expect(fits(entries, 169, 169, 1, shape)).toBe(false); // (119, 169] touches 120
    expect(fits(entries, 170, 170, 1, shape)).toBe(true);
    // An interval fits only where every moment of it does.
    expect(fits(entries, 30, 60, 1, shape)).toBe(false);
    expect(fits(entries, 20, 50, 1, shape)).toBe(true);
    expect(earliestFit(entries, 40, 0, 1, shape)).toBe(40);
    expect(earliestFit(entries, 70, 0, 1, shape)).toBe(170);
  });

  it('census counts admissions by class in the window and reservations not yet used', () => {
    const shape = { spanMs: 1_000, toleranceMs: 0 };
    const entries = [
      { at: T0 - 1_500, kind: 'b' as const },
      { at: T0 - 500, kind: 'b' as const },
      { at: T0 - 10, kind: 'i' as const },
      { at: T0 + 400, kind: 'r' as const },
    ];
    expect(census(entries, T0, shape)).toEqual({
      admitted: { interactive: 1, background: 1 },
      reservedAhead: 1,
    });
  });
});

/** The most of `times` in any window of `spanMs` (a window (x, x + span] holds the same). */
function maxInWindow(times: number[], spanMs: number): number {
  return maxInAnyWindow(
    [...times].sort((a, b) => a - b),
    spanMs,
  );
}

describe('queued sends go before other background work', () => {
  const send = { workClass: 'background', lane: 'sends' } as const;
  const bulk = { workClass: 'background', lane: 'bulk' } as const;

  it('a send takes the slot reserved for an import when that is the only room', () => {
    // The window is full of imports' calls, and the next of imports' reservations.
    const reserved = Array.from({ length: 8 }, (_, k) => T0 + 1_050 + k * 125);
    const log: LogView = {
      entries: [
        ...Array.from({ length: 8 }, () => ({ at: T0, kind: 'b' as const })),
        ...reserved.map((at) => ({ at, kind: 'r' as const })),
      ],
      tail: 0,
      sendTail: 0,
    };
    expect(decide({ ...log, entries: [...log.entries] }, bulk, T0, config).outcome).toBe(
      'lined-up',
    );
    const sent = decide(log, send, T0, config);
    expect(sent.outcome).toBe('reserved');
    expect(reservationOf(sent.decision)).toBe(T0 + 1_050);
    // The latest import's reservation made room, and only it.
    expect(log.entries.filter((e) => e.kind === 'r').map((e) => e.at)).toEqual(
      reserved.slice(0, -1),
    );
    // Its holder, coming back at its moment, finds it gone and decides afresh.
    const back = reserved.at(-1) as number;
    const again = decide(log, { ...bulk, reservation: back }, back, config);
    expect(again.outcome).not.toBe('claimed');
  });

  it('other background work is neither admitted nor reserved ahead of lined-up sends', () => {
    const log = emptyLog();
    many(log, 8, 'background', T0);
    // Enough sends to fill the horizon and line up beyond it.
    const sends = Array.from({ length: 20 }, () => decide(log, send, T0, config));
    expect(sends.some((r) => r.outcome === 'lined-up')).toBe(true);
    expect(log.sendTail).toBeGreaterThan(T0 + config.horizonMs);
    const queuedSendSlots = log.entries.filter((e) => e.kind === 'q').map((e) => e.at);
    const imported = decide(log, bulk, T0 + 1, config);
    expect(imported.outcome).toBe('lined-up');
    const comesBack = imported.decision.admitted ? 0 : imported.decision.retryAfterMs;
    expect(T0 + 1 + comesBack + config.lineLeadMs).toBeGreaterThanOrEqual(
      log.sendTail - config.spanMs / 8,
    );
    // ... and once room appears, sends still come first: an import may not take it yet.
    const later = T0 + config.spanMs + 1;
    const view: LogView = { ...log, entries: prune(log.entries, later, config) };
    expect(decide(view, bulk, later, config).decision.admitted).toBe(false);
    expect(Math.min(...queuedSendSlots)).toBeLessThan(log.sendTail);
  });

  it('without sends waiting, imports are admitted exactly as before', () => {
    const log = emptyLog();
    expect(many(log, 8, 'background', T0).every((r) => r.outcome === 'admitted')).toBe(true);
    expect(log.sendTail).toBe(0);
  });

  it('an interactive caller takes an import reservation before a queued send one', () => {
    const log: LogView = {
      entries: [
        ...Array.from({ length: 8 }, () => ({ at: T0 + 1_000, kind: 'i' as const })),
        { at: T0 + 1_050, kind: 'q' },
        { at: T0 + 1_050, kind: 'r' },
      ],
      tail: 0,
      sendTail: 0,
    };
    const taken = decide(log, { workClass: 'interactive' }, T0 + 1_060, config);
    expect(taken.outcome).toBe('took-reservation');
    expect(log.entries.filter((e) => e.kind === 'q')).toHaveLength(1);
    expect(log.entries.filter((e) => e.kind === 'r')).toHaveLength(0);
  });
});

describe('exactness under random traffic (property)', () => {
  it('calls made never exceed maxCalls in any window, nor background calls maxCalls - reserve', () => {
    const step = fc.record({
      gap: fc.integer({ min: 0, max: 120 }),
      // Mostly below the allowance, so queue work runs saturated beside it; now and then a burst.
      interactive: fc.constantFrom(0, 0, 0, 0, 1, 3),
      background: fc.integer({ min: 0, max: 6 }),
      // Queued sends, which go before other background work and may displace its reservations.
      sends: fc.integer({ min: 0, max: 3 }),
      // Added to the run's lateness for holders handed a reservation in this step.
      jitter: fc.double({ min: 0, max: 0.2, noNaN: true }),
    });
    fc.assert(
      fc.property(
        fc.array(step, { minLength: 20, maxLength: 150 }),
        fc.integer({ min: 0, max: 5 }),
        // Tolerances up to half a window: late holders then land well past their moment.
        fc.integer({ min: 0, max: 500 }),
        // How late holders come back, as a share of the tolerance (over 1: too late); much the
        // same for all of them, as when every instance polls its queue at the same pace.
        // Mostly late but within the tolerance: where a reservation's interval matters most.
        fc.oneof(
          { arbitrary: fc.double({ min: 0.2, max: 1, noNaN: true }), weight: 3 },
          { arbitrary: fc.double({ min: -0.5, max: 1.6, noNaN: true }), weight: 1 },
        ),
        (steps, reserve, toleranceMs, lateness) => {
          const cfg = { ...config, interactiveReserve: reserve, toleranceMs };
          let log = emptyLog();
          let now = T0;
          const calls: { at: number; background: boolean }[] = [];
          // Work coming back: with a reservation, or lined up (it has waited its turn).
          const holders: { at?: number; returnsAt: number; lane: Lane }[] = [];
          const record = (decision: Decision, lane: Lane | undefined, late: number) => {
            const background = lane !== undefined;
            if (decision.admitted) calls.push({ at: decision.at, background });
            else if (decision.reservation !== undefined && lane) {
              holders.push({
                at: decision.reservation,
                returnsAt: decision.reservation + late * cfg.toleranceMs,
                lane,
              });
            } else if (lane) holders.push({ returnsAt: now + decision.retryAfterMs, lane });
          };
          for (const s of steps) {
            now += s.gap;
            log = { entries: prune(log.entries, now, cfg), tail: log.tail, sendTail: log.sendTail };
            for (let i = 0; i < s.interactive; i++) {
              record(decide(log, { workClass: 'interactive' }, now, cfg).decision, undefined, 0);
            }
            const due = holders.filter((h) => h.returnsAt <= now);
            for (const h of due) {
              holders.splice(holders.indexOf(h), 1);
              const request =
                h.at === undefined
                  ? ({ workClass: 'background', waited: true, lane: h.lane } as const)
                  : ({ workClass: 'background', reservation: h.at, lane: h.lane } as const);
              record(decide(log, request, now, cfg).decision, h.lane, lateness + s.jitter);
            }
            const arrivals: Lane[] = [
              ...Array.from({ length: s.background }, () => 'bulk' as const),
              ...Array.from({ length: s.sends }, () => 'sends' as const),
            ];
            for (const lane of arrivals) {
              const r = decide(log, { workClass: 'background', lane }, now, cfg);
              record(r.decision, lane, lateness + s.jitter);
            }
          }
          const all = calls.map((c) => c.at);
          const background = calls.filter((c) => c.background).map((c) => c.at);
          return (
            maxInWindow(all, cfg.spanMs) <= cfg.maxCalls &&
            maxInWindow(background, cfg.spanMs) <= cfg.maxCalls - reserve
          );
        },
      ),
      { numRuns: 1_000 },
    );
  });
});
