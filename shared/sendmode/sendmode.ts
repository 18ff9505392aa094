/**
 * Every Sendmode call goes through here: read the key, take a slot from the shared limiter,
 * call, and, if Sendmode refuses the key, read it again and retry once (a key rotated in the
 * vault takes effect without a restart). The retry takes its own limiter slot. A send can ask to
 * see its request again once each slot is granted (`beforeCall`), since waiting for one takes
 * time in which a recipient may opt out.
 */
import {
  UpstreamRejectedError,
  UpstreamTimeoutError,
  UpstreamUnavailableError,
} from '../errors.js';
import type { SlotRequest } from '../limit/admission-policy.js';
import type { Logger } from '../logger.js';
import type { SecretProvider } from '../secrets.js';
import { type CallOutcome, countSendmodeCall, countSent } from '../telemetry/metrics.js';
import type {
  CreditsResult,
  ImportCustomerRequest,
  ImportCustomerResult,
  OptOutRequest,
  OptOutResult,
  SendmodeApi,
  SendSmsRequest,
  SendSmsResult,
} from './api.js';
import { assertOffered, type SendmodeOperation } from './api-version.js';
import { measureSms } from './sms-text.js';

/** The shared limiter as seen by callers: resolves when a call may be made. */
export interface CallGate {
  acquire(maxWaitMs: number, request: SlotRequest): Promise<void>;
}

/** The limiter request (class of work, a reservation held, ...) and how long to wait for it. */
export interface CallOptions extends SlotRequest {
  log: Logger;
  /** How long to wait for a limiter slot before giving up with RateLimitedError. */
  maxWaitMs: number;
}

export interface SendOptions extends CallOptions {
  /** Runs after each slot is granted, right before the call: the request to send, or a throw. */
  beforeCall?(request: SendSmsRequest): Promise<SendSmsRequest>;
}

export class Sendmode {
  constructor(
    private readonly api: SendmodeApi,
    private readonly keys: SecretProvider,
    private readonly gate: CallGate,
  ) {}

  send(request: SendSmsRequest, options: SendOptions): Promise<SendSmsResult> {
    const { beforeCall, ...callOptions } = options;
    return this.call(
      callOptions,
      async (key) => {
        const sent = beforeCall ? await beforeCall(request) : request;
        const result = await this.api.send(key, sent);
        countSent(options.workClass, sent.recipients.length, measureSms(sent.messagetext).parts);
        return result;
      },
      'send',
    );
  }

  credits(options: CallOptions): Promise<CreditsResult> {
    return this.call(options, (key) => this.api.credits(key), 'credits');
  }

  importCustomer(
    request: ImportCustomerRequest,
    options: CallOptions,
  ): Promise<ImportCustomerResult> {
    return this.call(options, (key) => this.api.importCustomer(key, request), 'import');
  }

  optOut(request: OptOutRequest, options: CallOptions): Promise<OptOutResult> {
    return this.call(options, (key) => this.api.optOut(key, request), 'optout');
  }

  private async call<T>(
    options: CallOptions,
    operation: (key: string) => Promise<T>,
    name: SendmodeOperation,
  ): Promise<T> {
    // What the configured API generation lacks is refused here: no key read, no limiter slot.
    assertOffered(this.api.version, name);
    const key = await this.keys.get(options.log);
    const { log: _log, maxWaitMs, ...request } = options;
    const counted = (key: string) => countedCall(name, request.workClass, () => operation(key));
    await this.gate.acquire(maxWaitMs, request);
    try {
      return await counted(key);
    } catch (error) {
      if (!(error instanceof UpstreamRejectedError && error.isAuthFailure)) throw error;
      const freshKey = await this.keys.refresh(key, options.log).catch(() => key);
      if (freshKey === key) throw error;
      options.log.warn('Sendmode refused the API key; retrying once with the key just read again.');
      await this.gate.acquire(maxWaitMs, { workClass: request.workClass });
      return counted(freshKey);
    }
  }
}

/** Runs one call and counts it in `sendmode.calls` (a throw before the call counts nothing). */
async function countedCall<T>(
  operation: SendmodeOperation,
  workClass: SendOptions['workClass'],
  call: () => Promise<T>,
): Promise<T> {
  try {
    const result = await call();
    countSendmodeCall(operation, workClass, 'ok');
    return result;
  } catch (error) {
    const outcome = callOutcomeOf(error);
    if (outcome) {
      const keyRefused = error instanceof UpstreamRejectedError && error.isAuthFailure;
      countSendmodeCall(operation, workClass, outcome, keyRefused);
    }
    throw error;
  }
}

/** How a failed call ended, or undefined when the throw came before any call. */
function callOutcomeOf(error: unknown): CallOutcome | undefined {
  // A 5xx is a failure whatever its body says; other refusals are Sendmode saying no.
  if (error instanceof UpstreamRejectedError)
    return error.httpStatus >= 500 ? 'failed' : 'rejected';
  if (error instanceof UpstreamUnavailableError) {
    return error.httpStatus === 429 ? 'throttled' : 'failed';
  }
  if (error instanceof UpstreamTimeoutError) return 'failed';
  return undefined;
}
