/**
 * The one place that reads the environment (but the queue names the registrations read without
 * zod at start-up: shared/queue-names.ts). Every setting is parsed and validated once;
 * a bad or missing setting fails start-up with a message naming each one.
 */
import * as z from 'zod';

import { callingCodeOf, isCallingCode } from './calling-codes.js';
import { MIN_IDEMPOTENCY_TTL_SECONDS } from './http/idempotency-limits.js';
import { DEFAULT_QUEUE_NAMES, QUEUE_NAME_PATTERN } from './queue-names.js';
import { resolveAliases } from './setting-aliases.js';

const LOOPBACK_HOSTS = new Set(['localhost', '[::1]', '::1']);

/** localhost, 127.0.0.0/8 or [::1] (the URL parser normalises IPv4 forms such as 127.1). */
export function isLoopbackUrl(url: URL): boolean {
  return LOOPBACK_HOSTS.has(url.hostname) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(url.hostname);
}

/**
 * The app's own host name as App Service sets it (`WEBSITE_HOSTNAME`), lower case; undefined
 * elsewhere. The platform's, not a setting of this app: not in the schema below.
 */
export function appHostname(): string | undefined {
  return process.env.WEBSITE_HOSTNAME?.trim().toLowerCase() || undefined;
}

/**
 * The instance the app runs on as App Service names it (`WEBSITE_INSTANCE_ID`); undefined
 * elsewhere. The platform's, like `WEBSITE_HOSTNAME`: not in the schema below.
 */
export function appInstanceId(): string | undefined {
  return process.env.WEBSITE_INSTANCE_ID?.trim() || undefined;
}

const intSetting = (fallback: number, min: number, max: number) =>
  z.coerce.number().int().min(min).max(max).default(fallback);

/**
 * A URL the app sends a secret to (the Sendmode API key, a Key Vault token): https everywhere,
 * plain http only on loopback (the local simulator and test fakes), and never a user name or
 * password. The messages never quote the value: it may hold a credential.
 */
const secureUrl = z.string().superRefine((value, ctx) => {
  const url = URL.canParse(value) ? new URL(value) : undefined;
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.hostname === '') {
    ctx.addIssue({ code: 'custom', message: 'must be an https:// URL (the value is not shown)' });
    return;
  }
  if (url.username !== '' || url.password !== '') {
    ctx.addIssue({
      code: 'custom',
      message: 'must not carry a user name or password (the value is not shown)',
    });
  }
  if (url.protocol === 'http:' && !isLoopbackUrl(url)) {
    ctx.addIssue({
      code: 'custom',
      message:
        'must be https:// (http:// is accepted only for localhost, 127.x.x.x or [::1]); the value is not shown',
    });
  }
});

/** `true` or `false` (any case), as App Service and Bicep's string(bool) write them. */
const booleanSetting = (fallback: boolean) =>
  z
    .stringbool({ truthy: ['true'], falsy: ['false'], error: 'must be true or false' })
    .default(fallback);

const optionalString = z.string().trim().optional();

const secretName = z
  .string()
  .regex(
    /^[0-9a-zA-Z-]{1,127}$/,
    'must be 1-127 letters, digits or dashes (a Key Vault secret name)',
  );

const tableName = z.string().regex(/^[A-Za-z][A-Za-z0-9]{2,62}$/, 'must be a valid table name');

/** Storage queue names (the pattern is shared with the registrations: shared/queue-names.ts). */
const queueName = z
  .string()
  .regex(QUEUE_NAME_PATTERN, 'must be a valid queue name (at most 50 characters)');

/** Sendmode's API generations: v2 (the REST API the connector was built on) and v3 ("Engage", 3.0). */
export const SENDMODE_API_VERSIONS = ['v2', 'v3'] as const;
export type SendmodeApiVersion = (typeof SENDMODE_API_VERSIONS)[number];

/** Each generation's public base URL: the default of SENDMODE_BASE_URL follows SENDMODE_API_VERSION. */
export const SENDMODE_DEFAULT_BASE_URLS: Record<SendmodeApiVersion, string> = {
  v2: 'https://rest.sendmode.com/v2',
  v3: 'https://sms-rest.sendmode.dev/3.0',
};

const settingsSchema = z.object({
  SENDMODE_API_VERSION: z.enum(SENDMODE_API_VERSIONS, { error: 'must be v2 or v3' }).default('v2'),
  /** Unset: the chosen generation's public base URL (see parseSettings). */
  SENDMODE_BASE_URL: secureUrl.optional(),
  /** Used when a send names no senderid; required for v3 then. Valid for both generations. */
  DEFAULT_SENDER_ID: z
    .string()
    .regex(/^(?:[A-Za-z0-9]{1,11}|\d{1,15})$/, 'must be 1-11 letters or digits, or up to 15 digits')
    .optional(),
  SENDMODE_CONNECT_TIMEOUT_MS: intSetting(5_000, 100, 120_000),
  SENDMODE_HEADERS_TIMEOUT_MS: intSetting(15_000, 100, 300_000),
  SENDMODE_BODY_TIMEOUT_MS: intSetting(15_000, 100, 300_000),
  SENDMODE_MAX_CONNECTIONS: intSetting(10, 1, 256),
  KEY_VAULT_URI: secureUrl.optional(),
  SENDMODE_API_KEY_SECRET_NAME: secretName.default('sendmode-api-key'),
  SENDMODE_API_KEY: optionalString,
  API_KEY_CACHE_TTL_SECONDS: intSetting(300, 0, 86_400),
  AzureWebJobsStorage: optionalString,
  AzureWebJobsStorage__accountName: optionalString,
  AzureWebJobsStorage__tableServiceUri: optionalString,
  AzureWebJobsStorage__queueServiceUri: optionalString,
  AzureWebJobsStorage__clientId: optionalString,
  SENDMODE_ACCOUNT_NAME: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 letters, digits, _ or -')
    .default('default'),
  RATE_LIMIT_MAX_CALLS: intSetting(100, 1, 1_000),
  RATE_LIMIT_WINDOW_SECONDS: intSetting(60, 1, 3_600),
  RATE_LIMIT_SAFETY_MARGIN_MS: intSetting(1_000, 0, 60_000),
  RATE_LIMIT_MAX_WAIT_SECONDS: intSetting(5, 0, 60),
  /** Default: a fifth of RATE_LIMIT_MAX_CALLS (resolved in parseSettings). */
  RATE_LIMIT_INTERACTIVE_RESERVE: z.coerce.number().int().min(0).max(999).optional(),
  RATE_LIMIT_RESERVATION_TOLERANCE_MS: intSetting(3_000, 0, 60_000),
  RATE_LIMIT_TABLE_NAME: tableName.default('ratelimits'),
  IDEMPOTENCY_TABLE_NAME: tableName.default('idempotency'),
  /** At least the in-flight guard plus five minutes (shared/http/idempotency-limits.ts). */
  IDEMPOTENCY_TTL_SECONDS: z.coerce
    .number()
    .int()
    .min(MIN_IDEMPOTENCY_TTL_SECONDS, {
      error: `must be at least ${MIN_IDEMPOTENCY_TTL_SECONDS} seconds, longer than a send may stay in flight`,
    })
    .max(7 * 86_400)
    .default(86_400),
  IMPORT_QUEUE_NAME: queueName.default(DEFAULT_QUEUE_NAMES.IMPORT_QUEUE_NAME),
  OPT_OUT_QUEUE_NAME: queueName.default(DEFAULT_QUEUE_NAMES.OPT_OUT_QUEUE_NAME),
  SEND_QUEUE_NAME: queueName.default(DEFAULT_QUEUE_NAMES.SEND_QUEUE_NAME),
  SEND_STATUS_TABLE_NAME: tableName.default('sendstatus'),
  /** How long a queued send's status can be looked up (from when it was queued). */
  SEND_STATUS_TTL_SECONDS: intSetting(7 * 86_400, 3_600, 90 * 86_400),
  /** Queued sends of one text share Sendmode calls (shared/merge/). */
  SEND_MERGE: z.enum(['on', 'off'], { error: 'must be on or off' }).default('on'),
  SEND_MERGE_WINDOW_MS: intSetting(2_000, 0, 10_000),
  SEND_MAX_RECIPIENTS_PER_CALL: intSetting(1_000, 1, 1_000),
  SEND_MERGE_TABLE_NAME: tableName.default('sendmerge'),
  /** `on` once Sendmode posts delivery reports to /api/delivery-reports: unreported sends warn. */
  DELIVERY_REPORTS: z.enum(['on', 'off'], { error: 'must be on or off' }).default('off'),
  /** A send older than this without any report counts as unreported. */
  DELIVERY_REPORT_EXPECTED_MINUTES: intSetting(30, 0, 7 * 1_440),
  /** How many of the latest sends old enough to be reported the warning looks at. */
  DELIVERY_REPORT_WATCH_SENDS: intSetting(20, 1, 1_000),
  DELIVERY_TABLE_NAME: tableName.default('deliveries'),
  /** Each instance's per-minute figures, the status page's hour (shared/history/). */
  HISTORY_TABLE_NAME: tableName.default('history'),
  /** Webhook subscriptions to the app's events (shared/subscriptions/). */
  SUBSCRIPTION_TABLE_NAME: tableName.default('subscriptions'),
  EVENT_QUEUE_NAME: queueName.default(DEFAULT_QUEUE_NAMES.EVENT_QUEUE_NAME),
  QUEUE_RETRY_BASE_SECONDS: intSetting(30, 1, 3_600),
  QUEUE_RETRY_MAX_SECONDS: intSetting(3_600, 1, 86_400),
  SUPPRESSION_TABLE_NAME: tableName.default('optouts'),
  WEBHOOK_IDS_TABLE_NAME: tableName.default('webhookids'),
  WEBHOOK_SIGNING_SECRET_NAME: secretName.optional(),
  WEBHOOK_SIGNING_SECRET: optionalString,
  OPT_OUT_KEYWORDS: optionalString,
  OPT_IN_KEYWORDS: optionalString,
  OPT_OUT_AUDIT_TABLE_NAME: tableName.default('optoutaudit'),
  /**
   * App Service authentication (Easy Auth) runs in front of the app, so the platform sets
   * x-ms-client-principal-name and it can be trusted.
   */
  APP_SERVICE_AUTH_ENABLED: booleanSetting(false),
  /**
   * How national numbers are read (shared/schemas/phone-number.ts): a region (`IE`) or a calling
   * code (`353`, `+353`), kept as the calling code's digits.
   */
  DEFAULT_COUNTRY_CODE: z
    .string()
    .transform((value, ctx) => {
      const code = defaultCallingCode(value.trim());
      if (code === undefined) {
        ctx.addIssue({
          code: 'custom',
          message: `must be a region such as IE or GB${/^uk$/i.test(value.trim()) ? ' (the United Kingdom is GB)' : ''}, or a country calling code such as 353 or +44`,
        });
        return z.NEVER;
      }
      return code;
    })
    .optional(),
  /** Accept valid numbers that cannot receive SMS (fixed lines, toll-free, ...). */
  ALLOW_NON_MOBILE_NUMBERS: booleanSetting(false),
  /** `on`: characters with a GSM-7 look-alike are replaced when that keeps a text GSM-7. */
  SMART_ENCODING: z.enum(['on', 'off'], { error: 'must be on or off' }).default('on'),
});

/** A region's calling code (`IE` → `353`), or a calling code's digits (`+353` → `353`). */
function defaultCallingCode(value: string): string | undefined {
  if (/^[A-Za-z]{2}$/.test(value)) return callingCodeOf(value);
  const digits = /^\+?([1-9]\d{0,2})$/.exec(value)?.[1];
  return digits !== undefined && isCallingCode(digits) ? digits : undefined;
}

type ParsedSettings = z.infer<typeof settingsSchema>;

/**
 * The settings after defaults that depend on another setting (the base URL follows the version;
 * the interactive reserve is a fifth of the limit).
 */
export type Settings = Omit<
  ParsedSettings,
  'SENDMODE_BASE_URL' | 'RATE_LIMIT_INTERACTIVE_RESERVE'
> & {
  SENDMODE_BASE_URL: string;
  RATE_LIMIT_INTERACTIVE_RESERVE: number;
};

/** Every setting this module reads (for documentation checks and the infrastructure tests). */
export function settingNames(): string[] {
  return Object.keys(settingsSchema.shape);
}

export class SettingsError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid settings:\n  - ${problems.join('\n  - ')}`);
  }
}

/** Parses settings from an environment-like record. Pure: tests pass their own. */
export function parseSettings(env: Record<string, string | undefined>): Settings {
  // An empty app setting means "not set": the default applies.
  const { env: renamed, conflicts } = resolveAliases(env);
  const present = Object.fromEntries(
    Object.entries(renamed).filter(([, value]) => value !== undefined && value.trim() !== ''),
  );
  const result = settingsSchema.safeParse(present);
  const problems = [
    ...conflicts,
    ...(result.error?.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`) ?? []),
  ];
  if (!result.success || problems.length > 0) throw new SettingsError(problems);
  return withInteractiveReserve(withBaseUrl(result.data));
}

/** Background work must keep at least one call of every window. */
function withInteractiveReserve(
  parsed: Omit<Settings, 'RATE_LIMIT_INTERACTIVE_RESERVE'> & {
    RATE_LIMIT_INTERACTIVE_RESERVE?: number | undefined;
  },
): Settings {
  const maxCalls = parsed.RATE_LIMIT_MAX_CALLS;
  const reserve = parsed.RATE_LIMIT_INTERACTIVE_RESERVE ?? Math.floor(maxCalls / 5);
  if (reserve >= maxCalls) {
    throw new SettingsError([
      `RATE_LIMIT_INTERACTIVE_RESERVE: must be less than RATE_LIMIT_MAX_CALLS (${maxCalls}), so background work keeps at least one call`,
    ]);
  }
  return { ...parsed, RATE_LIMIT_INTERACTIVE_RESERVE: reserve };
}

/**
 * The base URL defaults to the chosen generation's; a public Sendmode URL of the other
 * generation is refused, because each speaks its own wire format.
 */
function withBaseUrl(parsed: ParsedSettings) {
  const version = parsed.SENDMODE_API_VERSION;
  const baseUrl = parsed.SENDMODE_BASE_URL ?? SENDMODE_DEFAULT_BASE_URLS[version];
  const other: SendmodeApiVersion = version === 'v2' ? 'v3' : 'v2';
  const otherHost = new URL(SENDMODE_DEFAULT_BASE_URLS[other]).host;
  if (new URL(baseUrl).host === otherHost) {
    // Name the public host, never the value: it may hold more than a host.
    throw new SettingsError([
      `SENDMODE_BASE_URL: points at Sendmode's ${other} API (${otherHost}), but SENDMODE_API_VERSION is ${version}; change one of them (or leave SENDMODE_BASE_URL unset)`,
    ]);
  }
  return { ...parsed, SENDMODE_BASE_URL: baseUrl };
}

let current: Settings | undefined;

/** The process's settings, parsed on first use. */
export function getSettings(): Settings {
  current ??= parseSettings(process.env);
  return current;
}

/** Forget the parsed settings so the next `getSettings()` re-reads the environment (tests). */
export function resetSettings(): void {
  current = undefined;
}
