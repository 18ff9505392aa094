/**
 * The simulator's admin API under /__admin, for tests and the inbox page: the call log, faults,
 * keys, balance, refused numbers, delivery report settings, the whole state, and reset.
 * Admin calls are not recorded.
 *
 *   GET|DELETE /__admin/calls[?operation=send]   GET|POST|DELETE /__admin/faults
 *   PUT /__admin/keys {keys}      PUT /__admin/balance {balance}
 *   PUT /__admin/refused-numbers {numbers}       GET|PUT /__admin/delivery-reports
 *   GET /__admin/delivery-reports/sent           GET /__admin/state      POST /__admin/reset
 */
import type http from 'node:http';

import { parseFault } from './faults.js';
import { BodyTooLargeError, readBody, sendJson } from './http-io.js';
import type { FaultSpec, Simulator } from './types.js';
import { isPlainObject } from './wire-format.js';

export const ADMIN_PREFIX = '/__admin';

/** What the admin API needs beyond the Simulator's own methods. */
export interface AdminContext {
  sim: Simulator;
  /** Empties the call log (seq restarts at 1) and tells the inbox. */
  clearCalls(): void;
  /** The active faults, `times` being what is left of each. */
  faults(): FaultSpec[];
}

/** An API key list as the options, setApiKeys and PUT /__admin/keys take it. */
export function cleanKeys(keys: unknown): string[] {
  if (!Array.isArray(keys) || keys.some((k) => typeof k !== 'string' || k === '')) {
    throw new TypeError('keys must be an array of non-empty strings.');
  }
  return [...(keys as string[])];
}

/** A balance as the options, setBalance and PUT /__admin/balance take it. */
export function checkBalance(balance: unknown): number {
  if (typeof balance !== 'number' || !Number.isFinite(balance) || balance < 0) {
    throw new TypeError('balance must be a finite number >= 0.');
  }
  return balance;
}

function state({ sim, faults }: AdminContext): unknown {
  return {
    balance: sim.balance(),
    contacts: sim.contacts(),
    optOuts: sim.optOuts(),
    faults: faults(),
  };
}

/** One admin request: JSON in and out; 400 with `{error}` when the request is refused. */
export async function handleAdmin(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  pathname: string,
  search: URLSearchParams,
  ctx: AdminContext,
): Promise<void> {
  const { sim } = ctx;
  let raw: Buffer;
  try {
    raw = await readBody(req);
  } catch (err) {
    if (err instanceof BodyTooLargeError) sendJson(res, 413, { error: 'Body too large.' });
    else res.destroy();
    return;
  }
  const route = pathname.slice(ADMIN_PREFIX.length).replace(/\/+$/, '') || '/';
  const method = req.method ?? 'GET';
  const jsonBody = (): unknown => {
    try {
      return JSON.parse(raw.toString('utf8'));
    } catch {
      throw new TypeError('The body must be JSON.');
    }
  };
  const noContent = (): void => {
    res.writeHead(204);
    res.end();
  };
  const routes: Record<string, Record<string, () => void>> = {
    '/calls': {
      GET: () => {
        const op = search.get('operation');
        sendJson(res, 200, {
          calls: op === null ? sim.calls() : sim.calls().filter((c) => c.operation === op),
        });
      },
      DELETE: () => {
        ctx.clearCalls();
        noContent();
      },
    },
    '/faults': {
      GET: () => sendJson(res, 200, { faults: ctx.faults() }),
      POST: () => {
        sim.injectFault(parseFault(jsonBody()));
        noContent();
      },
      DELETE: () => {
        sim.clearFaults();
        noContent();
      },
    },
    '/keys': {
      PUT: () => {
        const body = jsonBody();
        sim.setApiKeys(cleanKeys(isPlainObject(body) ? body.keys : undefined));
        noContent();
      },
    },
    '/balance': {
      PUT: () => {
        const body = jsonBody();
        sim.setBalance(checkBalance(isPlainObject(body) ? body.balance : undefined));
        noContent();
      },
    },
    '/refused-numbers': {
      PUT: () => {
        const body = jsonBody();
        const numbers = isPlainObject(body) ? body.numbers : undefined;
        if (!Array.isArray(numbers) || !numbers.every((n) => typeof n === 'string')) {
          throw new TypeError('numbers must be an array of strings.');
        }
        sim.refuseNumbers(numbers);
        noContent();
      },
    },
    '/delivery-reports': {
      GET: () => sendJson(res, 200, sim.deliveryReports.config()),
      PUT: () => sendJson(res, 200, sim.deliveryReports.configure(jsonBody())),
    },
    '/delivery-reports/sent': { GET: () => sendJson(res, 200, sim.deliveryReports.sent()) },
    '/state': { GET: () => sendJson(res, 200, state(ctx)) },
    '/reset': {
      POST: () => {
        sim.reset();
        noContent();
      },
    },
  };
  const handlers = routes[route];
  if (!handlers) {
    sendJson(res, 404, { error: 'Not found', path: pathname });
    return;
  }
  const handler = handlers[method];
  if (!handler) {
    const allow = Object.keys(handlers).join(', ');
    sendJson(res, 405, { error: `Method ${method} not allowed; use ${allow}.` }, { allow });
    return;
  }
  try {
    handler();
  } catch (err) {
    sendJson(res, 400, { error: err instanceof Error ? err.message : String(err) });
  }
}
