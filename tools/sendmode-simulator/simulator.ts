/**
 * A local Sendmode REST v2 simulator: development and test tooling, never deployed. It speaks
 * Sendmode 3.0 ("Engage") too, under /3.0 on the same port (v3.ts), sharing keys, balance,
 * faults and the call log.
 *
 * It speaks Sendmode REST v2's wire format as the upstream API notes describe it (form-encoded
 * fields holding JSON strings, or the same object as JSON), checks the raw-key `Authorization`
 * header, validates like the real service (HTTP 200 with `{status, statusCode, error}`), keeps a
 * balance, contacts and an opt-out list, records every call, and injects faults (latency, HTTP
 * errors, 429, connection resets, malformed bodies, SYSTEM_ERROR) so clients can be tested
 * against them. Accepted sends are followed by delivery reports to a configured URL
 * (delivery-reports.ts).
 *
 * This file creates the server and holds the simulator's state: the v2 operations are in v2.ts,
 * 3.0's in v3.ts, the admin API in admin.ts, faults in faults.ts and the inbox page in inbox/.
 *
 * It deliberately shares no code with the connector: a bug in the connector's own validation or
 * SMS-part counting must not be copied into the thing that tests it.
 *
 * Choices where the upstream is unconfirmed (kept here, documented once):
 * - Sendmode-level errors (bad key, bad input, insufficient credits) are HTTP 200 with the error
 *   JSON; only injected faults, unknown paths, wrong methods and oversized bodies use other HTTP
 *   statuses.
 * - 'http-error' faults answer the chosen HTTP status with a Sendmode-style JSON body
 *   `{status:'SYSTEM_ERROR', statusCode:8, error}` (so a client must look at the HTTP status, not
 *   only at the body). Plain-text / HTML bodies are covered by the 'malformed' fault.
 * - 'rate-limit' faults answer HTTP 429 with `Retry-After: <seconds>` and the body an API gateway
 *   (Azure API Management) gives: `{statusCode:429, message:'Rate limit is exceeded. ...'}`.
 * - `/import` requires the `group` field (the connector marks it required; the REST docs do not).
 * - Re-importing group+mobilenumber merges the new fields over the stored ones.
 * - `scheduledate` accepts ISO 8601 with a time (`2030-01-31T10:15`, optional seconds and zone)
 *   or `dd/mm/yyyy hh:mm[:ss]`.
 * - Optional string fields given as `""` or `null` count as absent.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

import { refuseCrossSite, refuseForeignHost } from '../local-host/host-guard.js';
import { ADMIN_PREFIX, checkBalance, cleanKeys, handleAdmin } from './admin.js';
import { createDeliveryReports } from './delivery-reports.js';
import { createFaults } from './faults.js';
import { normaliseNumber } from './field-formats.js';
import { BODY_LIMIT_BYTES, BodyTooLargeError, readBody, sendJson } from './http-io.js';
import { createInbox, type InboxEvent } from './inbox/inbox.js';
import { smsParts } from './sms-parts.js';
import type { Contact, OptOut, RecordedCall, Simulator, SimulatorOptions } from './types.js';
import { handleV2Call, routeV2 } from './v2.js';
import { handleV3Call, isV3Path, routeV3, V3_BASE_PATH } from './v3.js';
import { isPlainObject } from './wire-format.js';

function arrivalTime(): number {
  return performance.timeOrigin + performance.now();
}

/** Starts a simulator: listening once this resolves (on a free port unless `options.port`). */
export async function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const host = options.host ?? '127.0.0.1';
  const basePath = ('/' + (options.basePath ?? '/v2').replace(/^\/+|\/+$/g, '')).replace(
    /^\/$/,
    '',
  );
  const initialBalance = checkBalance(options.balance ?? 1000);
  const onCall = options.onCall;

  let apiKeys = new Set(cleanKeys(options.apiKeys ?? ['local-dev-key']));
  let balance = initialBalance;
  let seq = 0;
  let calls: RecordedCall[] = [];
  const faults = createFaults();
  /** Numbers refused as undeliverable (refuseNumbers). */
  let refused = new Set<string>();
  const contacts = new Map<string, Contact>();
  const optOuts = new Map<string, OptOut>();
  const sockets = new Set<Socket>();
  const timers = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();
  let closing = false;
  // The inbox page (inbox/) hears of every answered call and clear through these listeners.
  const listeners = new Set<(event: InboxEvent) => void>();
  const emit = (event: InboxEvent): void => {
    for (const listener of listeners) {
      try {
        listener(event);
      } catch {
        // a listener must not break the simulator
      }
    }
  };
  const subscribe = (listener: (event: InboxEvent) => void) => {
    listeners.add(listener);
    return () => void listeners.delete(listener);
  };
  // First: a bad report URL throws before anything is started.
  const reports = createDeliveryReports({
    url: options.deliveryReportUrl,
    onUpdate: (update) => emit({ type: 'delivery', update }),
    onAttempt: options.onReport,
  });
  const inbox = createInbox(subscribe);

  function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const entry = {
        timer: setTimeout(() => {
          timers.delete(entry);
          resolve();
        }, ms),
        resolve,
      };
      timers.add(entry);
    });
  }

  // --- Sendmode API requests ----------------------------------------------------------------

  async function handleApi(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    pathname: string,
  ): Promise<void> {
    const arrivedAt = arrivalTime();
    const apiVersion = isV3Path(pathname) ? 'v3' : 'v2';
    const operation = apiVersion === 'v3' ? routeV3(pathname) : routeV2(basePath, pathname);
    const contentType = req.headers['content-type'] ?? null;
    const auth = req.headers.authorization;
    const call: RecordedCall = {
      seq: ++seq,
      apiVersion,
      operation,
      method: req.method ?? 'GET',
      path: pathname,
      arrivedAt,
      authorized: typeof auth === 'string' && apiKeys.has(auth),
      contentType,
      payload: null,
      httpStatus: 0,
    };
    calls.push(call);
    let rawBody: Buffer | undefined;
    let reported = false;
    const report = (): void => {
      if (reported) return;
      reported = true;
      try {
        onCall?.({ ...call });
      } catch {
        // a logging hook must not break the simulator
      }
      emit({ type: 'call', call: { ...call }, body: rawBody });
    };
    res.on('close', report);

    const answer = (httpStatus: number, body: unknown, headers?: Record<string, string>): void => {
      if (res.destroyed) return;
      call.httpStatus = httpStatus;
      if (isPlainObject(body) && typeof body.statusCode === 'number' && httpStatus !== 429) {
        call.statusCode = body.statusCode;
      }
      if (isPlainObject(body) && typeof body.is_successful === 'boolean') {
        call.isSuccessful = body.is_successful;
      }
      sendJson(res, httpStatus, body, headers);
    };

    let raw: Buffer;
    try {
      raw = await readBody(req);
      rawBody = raw;
    } catch (err) {
      if (err instanceof BodyTooLargeError) {
        answer(413, { error: `The body is larger than ${BODY_LIMIT_BYTES} bytes.` });
      } else {
        res.destroy();
      }
      return;
    }

    if (apiVersion === 'v3') {
      await handleV3Call(call, req, res, raw, {
        answer,
        pickFaults: faults.pick,
        sleep,
        closing: () => closing,
        balance: () => balance,
        spend: (credits) => (balance -= credits),
        accepted: (numbers, customerId) => reports.accepted(call, numbers, customerId),
        smsParts,
      });
      return;
    }
    await handleV2Call(call, req, res, raw, {
      answer,
      pickFaults: faults.pick,
      sleep,
      closing: () => closing,
      balance: () => balance,
      spend: (credits) => (balance -= credits),
      isRefused: (number) => refused.has(number),
      contacts,
      optOuts,
      accepted: (numbers, customerId) => reports.accepted(call, numbers, customerId),
    });
  }

  function clearCalls(): void {
    calls = [];
    seq = 0;
    emit({ type: 'cleared' });
  }

  // --- wiring -------------------------------------------------------------------------------

  const server = http.createServer((req, res) => {
    // Any web page could otherwise reach it by DNS rebinding (see host-guard.ts).
    if (refuseForeignHost(req, res, host)) return;
    const url = new URL(req.url ?? '/', 'http://simulator.invalid');
    const pathname = url.pathname;
    const isAdmin = pathname === ADMIN_PREFIX || pathname.startsWith(ADMIN_PREFIX + '/');
    // The admin API and the inbox's data (full numbers and texts) are for the inbox page itself
    // and non-browser clients, never another site's page.
    const isInboxData = pathname === '/__inbox/entries' || pathname === '/__inbox/events';
    if ((isAdmin || isInboxData) && refuseCrossSite(req, res)) return;
    if (inbox.handles(pathname)) return inbox.serve(req, res, pathname);
    const work = isAdmin
      ? handleAdmin(req, res, pathname, url.searchParams, {
          sim,
          clearCalls,
          faults: faults.list,
        })
      : handleApi(req, res, pathname);
    work.catch(() => {
      if (!res.headersSent) sendJson(res, 500, { error: 'Simulator failure.' });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5000;
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const hostForUrl = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const origin = `http://${hostForUrl}:${address.port}`;

  function contactsCopy(): Contact[] {
    return [...contacts.values()].map((c) => ({ ...c, fields: { ...c.fields } }));
  }
  function optOutsCopy(): OptOut[] {
    return [...optOuts.values()].map((o) => ({ ...o }));
  }

  const sim: Simulator = {
    url: origin + basePath,
    urlV3: origin + V3_BASE_PATH,
    origin,
    calls: () => calls.map((c) => ({ ...c })),
    callsFor: (op) => calls.filter((c) => c.operation === op).map((c) => ({ ...c })),
    reset: () => {
      calls = [];
      seq = 0;
      faults.clear();
      contacts.clear();
      optOuts.clear();
      refused = new Set();
      balance = initialBalance;
      reports.reset();
      emit({ type: 'cleared' });
    },
    refuseNumbers: (numbers) => {
      refused = new Set(numbers.map(normaliseNumber));
    },
    injectFault: (fault) => faults.inject(fault),
    clearFaults: () => faults.clear(),
    setApiKeys: (keys) => {
      apiKeys = new Set(cleanKeys(keys));
    },
    setBalance: (value) => {
      balance = checkBalance(value);
    },
    balance: () => balance,
    contacts: contactsCopy,
    optOuts: optOutsCopy,
    deliveryReports: reports,
    subscribe,
    close: async () => {
      if (closing) return;
      closing = true;
      inbox.close();
      for (const entry of timers) {
        clearTimeout(entry.timer);
        entry.resolve();
      }
      timers.clear();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      for (const socket of sockets) socket.destroy();
      await Promise.all([closed, reports.close()]);
    },
  };
  return sim;
}
