/**
 * The simulator's injected faults: a fault spec is checked the same way whether it comes from
 * `injectFault()` or `POST /__admin/faults`, and each call picks the faults that apply to it, in
 * the order they were injected, using up their `times`.
 */
import { z } from 'zod';

import type { FaultSpec, Operation } from './types.js';

const faultSchema = z.strictObject({
  kind: z.enum([
    'latency',
    'http-error',
    'rate-limit',
    'reset',
    'malformed',
    'system-error',
    'sendmode-error',
  ]),
  status: z.string().min(1).optional(),
  statusCode: z.number().int().optional(),
  operation: z.enum(['send', 'credits', 'import', 'optout']).optional(),
  times: z.number().int().positive().optional(),
  probability: z.number().min(0).max(1).optional(),
  latencyMs: z.number().min(0).max(600_000).optional(),
  httpStatus: z.number().int().min(400).max(599).optional(),
  retryAfterSeconds: z.number().int().min(0).optional(),
});

export function parseFault(input: unknown): FaultSpec {
  const result = faultSchema.safeParse(input);
  if (!result.success) {
    throw new TypeError(`Invalid fault spec: ${z.prettifyError(result.error)}`);
  }
  return result.data;
}

/** The faults one call meets: an optional latency, then at most one other. */
export interface PickedFaults {
  latency?: FaultSpec;
  fault?: FaultSpec;
}

export interface Faults {
  /** Checks `fault` (a TypeError when it is not a fault spec) and adds it after the others. */
  inject(fault: unknown): void;
  clear(): void;
  /** Decides the faults for one call now, using up one of each picked fault's `times`. */
  pick(op: Operation): PickedFaults;
  /** The faults still active, `times` being what is left of it. */
  list(): FaultSpec[];
}

interface ActiveFault {
  spec: FaultSpec;
  /** Remaining applications; Infinity when `times` was not given. */
  remaining: number;
}

export function createFaults(): Faults {
  let faults: ActiveFault[] = [];
  return {
    inject(fault) {
      const spec = parseFault(fault);
      faults.push({ spec, remaining: spec.times ?? Infinity });
    },
    clear() {
      faults = [];
    },
    pick(op) {
      const picked: PickedFaults = {};
      for (const active of faults) {
        const { spec } = active;
        if (active.remaining <= 0) continue;
        if (spec.operation !== undefined && spec.operation !== op) continue;
        if (spec.kind === 'latency' && picked.latency) continue;
        if (Math.random() >= (spec.probability ?? 1)) continue;
        active.remaining -= 1;
        if (spec.kind === 'latency') {
          picked.latency = spec;
          continue;
        }
        picked.fault = spec;
        break;
      }
      faults = faults.filter((f) => f.remaining > 0);
      return picked;
    },
    list() {
      return faults.map((f) => ({
        ...f.spec,
        ...(Number.isFinite(f.remaining) ? { times: f.remaining } : {}),
      }));
    },
  };
}
