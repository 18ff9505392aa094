/**
 * The simulator's delivery reports: after each accepted send, per recipient, a `DISPATCHED` then
 * the final status, to one account-wide URL, as Sendmode's "HTTP Delivery Reports" do
 * (the upstream API notes): `EventID`, `Phonenumber` (international digits), `DataType`
 * (`SMS`), `Status`, `CustomerID` (the send's customer id, empty when none). The page must answer
 * `True`.
 *
 * Choices where the upstream is unconfirmed (kept here):
 * - The method: a query-string GET as in the documented example (default), a form POST, or JSON.
 * - A page that does not answer 200 `True` is retried (`retries` times, `retryDelayMs` apart).
 * - EventID is one number per (message, recipient), shared by its DISPATCHED and final reports;
 *   seeded from the clock so a restarted simulator never repeats one.
 * - A scheduled send is reported as if sent now; v2 and 3.0 sends are reported alike.
 *
 * Reports never hold up or fail the send that caused them: timers (unref'd) fire them, and every
 * attempt's outcome is recorded, never thrown. Nothing here imports the simulator or the inbox
 * (they import this), so it adds no import cycle.
 */
import { Agent, request } from 'undici';
import { z } from 'zod';

export const REPORT_STATUSES = [
  'DELIVRD',
  'DISPATCHED',
  'EXPIRED',
  'UNDELIV',
  'REJECTD',
  'OPTED OUT - BLOCKED',
] as const;
export type ReportStatus = (typeof REPORT_STATUSES)[number];
export type ReportMethod = 'GET' | 'POST-form' | 'POST-json';

export interface DeliveryReportConfig {
  /** Where reports go; null: none are sent (the inbox says "no report configured"). */
  url: string | null;
  method: ReportMethod;
  /** Before the first report. */
  delayMs: number;
  /** Between the first report and the second. */
  finalDelayMs: number;
  finalStatus: ReportStatus;
  /** Final status per recipient (international digits), over finalStatus. */
  statusByNumber: Record<string, ReportStatus>;
  /** Send every report twice. */
  duplicate: boolean;
  /** The final status first, then DISPATCHED. */
  outOfOrder: boolean;
  /** Accept sends but report nothing. */
  none: boolean;
  /** Further attempts when the page does not answer 200 `True`. */
  retries: number;
  retryDelayMs: number;
}

/** One attempt to deliver one report (GET /__admin/delivery-reports/sent). */
export interface ReportAttempt {
  eventId: string;
  phonenumber: string;
  status: ReportStatus;
  customerId: string;
  method: ReportMethod;
  /** 1 for the first try. */
  attempt: number;
  /** The page's HTTP status; 0 when it gave none (refused, timed out). */
  answerStatus: number;
  answeredTrue: boolean;
  /** ISO time the answer (or the failure) came. */
  at: string;
  /** Why there was no answer. */
  error?: string;
}

/** Which recorded call a message came in: the inbox's key for it (seq alone restarts on a clear). */
export interface MessageRef {
  seq: number;
  arrivedAt: number;
}

export const messageKey = (ref: MessageRef): string => `${ref.seq}@${ref.arrivedAt}`;

/** What the inbox shows for one recipient of one message. */
export interface RecipientDelivery {
  /** A report's status, or why none comes: 'awaiting report', 'no report configured', 'not reported (none)'. */
  status: string;
  /** e.g. 'not acknowledged: HTTP 500, attempt 2 of 4'. */
  note?: string;
}

export interface DeliveryUpdate {
  message: MessageRef;
  /** As the send carried it, spaces removed (the inbox's spelling). */
  recipient: string;
  delivery: RecipientDelivery;
}

export interface DeliveryReportsOptions {
  /** SIMULATOR_DELIVERY_REPORT_URL or --delivery-report-url: the default url, kept by reset. */
  url?: string | null;
  /** Tells the inbox; must not throw. */
  onUpdate(update: DeliveryUpdate): void;
  /** Each attempt once answered (main.ts logs it, number masked); must not throw. */
  onAttempt?(attempt: ReportAttempt): void;
}

export interface DeliveryReports {
  config(): DeliveryReportConfig;
  /** Replaces the configuration (fields left out take their defaults); TypeError on bad input. */
  configure(input: unknown): DeliveryReportConfig;
  /** Every attempt so far, oldest first (the last MAX_ATTEMPTS). */
  sent(): ReportAttempt[];
  /** A send was accepted: schedule its reports (never throws, never waits). */
  accepted(message: MessageRef, recipients: string[], customerId: string): void;
  /** Defaults back, pending reports dropped, the attempt log cleared. */
  reset(): void;
  close(): Promise<void>;
}

const MAX_ATTEMPTS = 5000;
const ANSWER_TIMEOUT_MS = 5000;
const FINAL: ReadonlySet<string> = new Set(REPORT_STATUSES.filter((s) => s !== 'DISPATCHED'));

const statusSchema = z.enum(REPORT_STATUSES);
const delaySchema = z.number().int().min(0).max(600_000);
const configSchema = z.strictObject({
  url: z
    .url({ protocol: /^https?$/ })
    .nullable()
    .optional(),
  method: z.enum(['GET', 'POST-form', 'POST-json']).default('GET'),
  delayMs: delaySchema.default(200),
  finalDelayMs: delaySchema.default(300),
  finalStatus: statusSchema.default('DELIVRD'),
  statusByNumber: z
    .record(
      z.string().regex(/^\s*\+?(\d\s*){6,15}$/, 'must be 6-15 digits (international)'),
      statusSchema,
    )
    .default({})
    .transform((byNumber) =>
      Object.fromEntries(Object.entries(byNumber).map(([n, s]) => [digitsOf(n), s])),
    ),
  duplicate: z.boolean().default(false),
  outOfOrder: z.boolean().default(false),
  none: z.boolean().default(false),
  retries: z.number().int().min(0).max(10).default(3),
  retryDelayMs: delaySchema.default(500),
});

/** A url left out is the default one (from the environment or the flag), not none. */
function parseConfig(input: unknown, defaultUrl: string | null): DeliveryReportConfig {
  const result = configSchema.safeParse(input);
  if (!result.success) {
    throw new TypeError(`Invalid delivery report settings: ${z.prettifyError(result.error)}`);
  }
  const { url, ...rest } = result.data;
  return { url: url === undefined ? defaultUrl : url, ...rest };
}

export function isFinalStatus(status: string): boolean {
  return FINAL.has(status);
}

/** International digits, as reports name the recipient (`+353 87…` → `35387…`). */
function digitsOf(number: string): string {
  return number.replace(/\D/g, '');
}

interface Report {
  eventId: string;
  phonenumber: string;
  status: ReportStatus;
  customerId: string;
}

function fieldsOf(report: Report): [string, string][] {
  return [
    ['EventID', report.eventId],
    ['Phonenumber', report.phonenumber],
    ['DataType', 'SMS'],
    ['Status', report.status],
    ['CustomerID', report.customerId],
  ];
}

/** Percent-encoding (`%20` for a space) is read alike by query-string and form parsers. */
function encoded(report: Report): string {
  return fieldsOf(report)
    .map(([name, value]) => `${name}=${encodeURIComponent(value)}`)
    .join('&');
}

function requestOf(config: DeliveryReportConfig, url: string, report: Report) {
  if (config.method === 'GET') {
    const target = new URL(url);
    target.hash = '';
    target.search = target.search ? `${target.search}&${encoded(report)}` : `?${encoded(report)}`;
    return { url: target.toString(), method: 'GET' as const };
  }
  const json = config.method === 'POST-json';
  const body = json ? JSON.stringify(Object.fromEntries(fieldsOf(report))) : encoded(report);
  const type = json ? 'application/json' : 'application/x-www-form-urlencoded';
  return { url, method: 'POST' as const, body, headers: { 'content-type': type } };
}

/** Timers and requests of one configuration period: reset and close stop them all at once. */
class Run {
  readonly timers = new Set<NodeJS.Timeout>();
  readonly abort = new AbortController();
  stopped = false;

  later(ms: number, task: () => void): void {
    if (this.stopped) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!this.stopped) task();
    }, ms);
    timer.unref(); // pending reports never keep the process alive
    this.timers.add(timer);
  }

  stop(): void {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.abort.abort();
  }
}

export function createDeliveryReports(options: DeliveryReportsOptions): DeliveryReports {
  const defaultUrl = parseConfig({ url: options.url ?? null }, null).url; // a bad URL throws here
  const dispatcher = new Agent({ keepAliveTimeout: 1000, connect: { timeout: ANSWER_TIMEOUT_MS } });
  let config = parseConfig({}, defaultUrl);
  let attempts: ReportAttempt[] = [];
  let run = new Run();
  let nextEventId = Date.now();

  const safely = (hook: () => void): void => {
    try {
      hook();
    } catch {
      // a listener must not break the reports
    }
  };

  function record(attempt: ReportAttempt): void {
    attempts.push(attempt);
    if (attempts.length > MAX_ATTEMPTS) attempts = attempts.slice(-MAX_ATTEMPTS);
    safely(() => options.onAttempt?.({ ...attempt }));
  }

  /** The page's answer, or status 0 and why there was none. */
  async function ask(current: Run, cfg: DeliveryReportConfig, url: string, report: Report) {
    try {
      const { url: target, ...init } = requestOf(cfg, url, report);
      const res = await request(target, {
        ...init,
        dispatcher,
        signal: current.abort.signal,
        headersTimeout: ANSWER_TIMEOUT_MS,
        bodyTimeout: ANSWER_TIMEOUT_MS,
      });
      const text = await res.body.text();
      return { answerStatus: res.statusCode, answeredTrue: isTrue(res.statusCode, text) };
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      return { answerStatus: 0, answeredTrue: false, error: reason };
    }
  }

  async function deliver(
    current: Run,
    cfg: DeliveryReportConfig,
    url: string,
    target: Omit<DeliveryUpdate, 'delivery'>,
    report: Report,
    attempt: number,
  ): Promise<void> {
    const answer = await ask(current, cfg, url, report);
    if (current.stopped) return;
    record({ ...report, method: cfg.method, attempt, at: new Date().toISOString(), ...answer });
    const retry = !answer.answeredTrue && attempt <= cfg.retries;
    const note = answer.answeredTrue
      ? undefined
      : `not acknowledged: ${answer.answerStatus === 0 ? 'no answer' : `HTTP ${answer.answerStatus}`}, attempt ${attempt} of ${cfg.retries + 1}`;
    safely(() =>
      options.onUpdate({
        ...target,
        delivery: { status: report.status, ...(note === undefined ? {} : { note }) },
      }),
    );
    if (retry) {
      current.later(cfg.retryDelayMs, () => {
        void deliver(current, cfg, url, target, report, attempt + 1);
      });
    }
  }

  /** DISPATCHED then the final status (or the other way round), each once or twice. */
  function schedule(message: MessageRef, recipient: string, customerId: string, url: string): void {
    const cfg = config;
    const current = run;
    const phonenumber = digitsOf(recipient);
    const final = cfg.statusByNumber[phonenumber] ?? cfg.finalStatus;
    const order: ReportStatus[] = cfg.outOfOrder ? [final, 'DISPATCHED'] : ['DISPATCHED', final];
    const eventId = String(nextEventId++);
    const target = { message, recipient };
    order.forEach((status, i) => {
      current.later(cfg.delayMs + i * cfg.finalDelayMs, () => {
        const report = { eventId, phonenumber, status, customerId };
        for (let copy = 0; copy < (cfg.duplicate ? 2 : 1); copy++) {
          void deliver(current, cfg, url, target, report, 1);
        }
      });
    });
  }

  function accepted(message: MessageRef, recipients: string[], customerId: string): void {
    const ref = { seq: message.seq, arrivedAt: message.arrivedAt };
    const { url, none } = config;
    const status =
      url === null ? 'no report configured' : none ? 'not reported (none)' : 'awaiting report';
    for (const recipient of recipients) {
      safely(() => options.onUpdate({ message: ref, recipient, delivery: { status } }));
      if (url !== null && !none) schedule(ref, recipient, customerId, url);
    }
  }

  return {
    config: () => structuredClone(config),
    configure(input) {
      config = parseConfig(input, defaultUrl);
      return structuredClone(config);
    },
    sent: () => attempts.map((a) => ({ ...a })),
    accepted(message, recipients, customerId) {
      safely(() => accepted(message, recipients, customerId));
    },
    reset() {
      run.stop();
      run = new Run();
      config = parseConfig({}, defaultUrl);
      attempts = [];
    },
    async close() {
      run.stop();
      await dispatcher.destroy();
    },
  };
}

/** Sendmode's documentation asks the page to output the word `True`. */
function isTrue(httpStatus: number, body: string): boolean {
  return httpStatus === 200 && body.trim().toLowerCase() === 'true';
}
