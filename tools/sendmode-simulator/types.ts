/**
 * The simulator's public shapes: what startSimulator takes and hands back, what it records of
 * each call, and the faults it can be told to inject.
 */
import type { DeliveryReports, ReportAttempt } from './delivery-reports.js';
import type { InboxEvent } from './inbox/inbox.js';

export type Operation = 'send' | 'credits' | 'import' | 'optout';

export type FaultKind =
  | 'latency'
  | 'http-error'
  | 'rate-limit'
  | 'reset'
  | 'malformed'
  | 'system-error'
  | 'sendmode-error';

export interface SimulatorOptions {
  /** Default 0: a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default ['local-dev-key']. */
  apiKeys?: string[];
  /** Default 1000. */
  balance?: number;
  /** Default '/v2'. */
  basePath?: string;
  /**
   * Addition to the agreed API: called once each recorded call is answered (or reset).
   * main.ts uses it to log one line per call. Must not throw.
   */
  onCall?: (call: RecordedCall) => void;
  /** Where delivery reports go until changed (delivery-reports.ts); default none. */
  deliveryReportUrl?: string;
  /** Called once each delivery report attempt is answered. Must not throw. */
  onReport?: (attempt: ReportAttempt) => void;
}

export interface RecordedCall {
  /** 1, 2, 3 ... in arrival order. */
  seq: number;
  /** Which API generation the call was made to: v2 under the base path, v3 under /3.0. */
  apiVersion: 'v2' | 'v3';
  operation: Operation | 'unknown';
  method: string;
  path: string;
  /** ms since epoch, sub-ms precision, taken on arrival before any injected latency. */
  arrivedAt: number;
  /** The Authorization header equalled a valid key. */
  authorized: boolean;
  contentType: string | null;
  /** The decoded operation payload, or null (credits, or a body that could not be decoded). */
  payload: unknown;
  /** The HTTP status answered; 0 if the connection was reset (or is still in flight). */
  httpStatus: number;
  /** The Sendmode statusCode answered, if any. */
  statusCode?: number;
  /** 3.0's `is_successful` answered, if any. */
  isSuccessful?: boolean;
  /** The fault applied, if any (when a latency fault was followed by another fault, the latter). */
  fault?: FaultKind;
}

export interface FaultSpec {
  kind: FaultKind;
  /** Default: every operation. */
  operation?: Operation;
  /** How many calls it applies to; default: until cleared. */
  times?: number;
  /** 0..1, default 1: applied at random to this share of matching calls. */
  probability?: number;
  /** For 'latency' (the call then proceeds normally); default 1000. */
  latencyMs?: number;
  /** For 'http-error'; default 503. */
  httpStatus?: number;
  /** For 'rate-limit': HTTP 429 with Retry-After; default 1. */
  retryAfterSeconds?: number;
  /** For 'sendmode-error': the rejection answered (HTTP 200); default INVALID_MOBILE_NUMBER / 11. */
  status?: string;
  statusCode?: number;
}

export interface Contact {
  group: string;
  mobilenumber: string;
  fields: Record<string, string>;
  importCount: number;
}

export interface OptOut {
  mobilenumber: string;
  count: number;
}

export interface Simulator {
  /** Base URL including basePath, e.g. http://127.0.0.1:54321/v2 (what SENDMODE_BASE_URL is set to). */
  url: string;
  /** Sendmode 3.0's base URL on the same server, e.g. http://127.0.0.1:54321/3.0. */
  urlV3: string;
  /** e.g. http://127.0.0.1:54321 */
  origin: string;
  /** Copy of every call so far (admin calls are not recorded). */
  calls(): RecordedCall[];
  callsFor(op: Operation): RecordedCall[];
  /**
   * Clears calls (seq restarts at 1), faults, contacts, opt-outs and pending delivery reports;
   * balance and report settings back to initial. Keys are kept.
   */
  reset(): void;
  injectFault(fault: FaultSpec): void;
  clearFaults(): void;
  /** Rotate keys: old ones become invalid. An empty list revokes every key. */
  setApiKeys(keys: string[]): void;
  setBalance(balance: number): void;
  /**
   * Numbers Sendmode refuses as it refuses a number it cannot deliver to: a send (v2) naming any
   * of them is answered INVALID_MOBILE_NUMBER, the whole call, as Sendmode does. Cleared by reset.
   */
  refuseNumbers(numbers: string[]): void;
  balance(): number;
  contacts(): Contact[];
  optOuts(): OptOut[];
  /** Delivery reports of accepted sends (also `/__admin/delivery-reports`); reset restores them. */
  deliveryReports: Pick<DeliveryReports, 'config' | 'configure' | 'sent'>;
  /** Tells `listener` of each answered call (with its raw body) and each clear; returns an unsubscribe. */
  subscribe(listener: (event: InboxEvent) => void): () => void;
  /** Stops listening and destroys open (keep-alive) sockets so it closes promptly. */
  close(): Promise<void>;
}
