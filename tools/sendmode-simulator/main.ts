/**
 * Standalone Sendmode simulator (development only, never deployed).
 *
 *   npx tsx tools/sendmode-simulator/main.ts [--port 8081] [--host|--bind 127.0.0.1]
 *       [--key local-dev-key]... [--balance 1000] [--delivery-report-url URL] [--quiet]
 *   npm run simulator -- --port 0
 *
 * Environment: SIMULATOR_PORT, SIMULATOR_API_KEY (comma-separated), SIMULATOR_BALANCE,
 * SIMULATOR_DELIVERY_REPORT_URL.
 * Flags win over the environment. Point the connector at it with SENDMODE_BASE_URL=<printed URL>
 * (the v2 one, or the 3.0 one with SENDMODE_API_VERSION=v3).
 * Logs one line per call (operation, HTTP status, Sendmode statusCode, fault, phone numbers
 * masked to their last 3 digits) and per delivery report attempt; never logs keys.
 */
import { parseArgs } from 'node:util';

import { bindWarning } from '../local-host/host-guard.js';
import type { ReportAttempt } from './delivery-reports.js';
import { startSimulator } from './simulator.js';
import type { RecordedCall } from './types.js';

const USAGE = `Usage: tsx tools/sendmode-simulator/main.ts [options]
  --port <n>      port to listen on (env SIMULATOR_PORT, default 8081; 0 = a free port)
  --host <h>      interface to bind (default 127.0.0.1; also --bind); another address lets
                  anyone on the network use its admin API and read the inbox
  --key <k>       accepted API key; repeat or comma-separate (env SIMULATOR_API_KEY, default local-dev-key)
  --balance <n>   initial credit balance (env SIMULATOR_BALANCE, default 1000)
  --delivery-report-url <url>
                  where delivery reports of accepted sends go (env SIMULATOR_DELIVERY_REPORT_URL;
                  default none; PUT /__admin/delivery-reports changes it and the rest)
  --quiet         do not log one line per call and per delivery report
  --help          show this help`;

function die(message: string): never {
  console.error(`${message}\n\n${USAGE}`);
  process.exit(2);
}

function parseNumber(raw: string, name: string, integer: boolean): number {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n < 0 || (integer && !Number.isInteger(n))) {
    die(`Invalid ${name}: ${raw}`);
  }
  return n;
}

/** Last 3 digits only. */
function mask(number: unknown): string {
  if (typeof number !== 'string') return '?';
  const digits = number.replace(/\D/g, '');
  return `***${digits.slice(-3)}`;
}

function numbersOf(call: RecordedCall): string[] {
  const p = call.payload as Record<string, unknown> | null;
  if (p === null || typeof p !== 'object') return [];
  if (Array.isArray(p.recipients)) return p.recipients.map(mask);
  if (Array.isArray(p.mobile_numbers)) return p.mobile_numbers.map(mask); // 3.0 bulk
  if ('mobile_number' in p) return [mask(p.mobile_number)]; // 3.0 single
  if ('mobilenumber' in p) return [mask(p.mobilenumber)];
  const data = p.importdata as Record<string, unknown> | null | undefined;
  if (data && typeof data === 'object' && 'mobilenumber' in data) return [mask(data.mobilenumber)];
  return [];
}

function logCall(call: RecordedCall): void {
  const parts = [
    new Date(call.arrivedAt).toISOString(),
    `#${call.seq}`,
    call.method,
    call.apiVersion,
    call.operation,
    `http=${call.httpStatus}`,
  ];
  if (call.statusCode !== undefined) parts.push(`statusCode=${call.statusCode}`);
  if (!call.authorized) parts.push('unauthorized');
  if (call.fault) parts.push(`fault=${call.fault}`);
  const numbers = numbersOf(call);
  if (numbers.length > 0) {
    const shown = numbers.slice(0, 5).join(',');
    parts.push(`numbers=${shown}${numbers.length > 5 ? `,+${numbers.length - 5}` : ''}`);
  }
  console.log(parts.join(' '));
}

function logReport(attempt: ReportAttempt): void {
  const answer =
    attempt.answerStatus === 0 ? `no answer (${attempt.error})` : `http=${attempt.answerStatus}`;
  console.log(
    [
      attempt.at,
      'delivery-report',
      attempt.method,
      `status=${attempt.status}`,
      `number=${mask(attempt.phonenumber)}`,
      `event=${attempt.eventId}`,
      `attempt=${attempt.attempt}`,
      answer,
      attempt.answeredTrue ? 'True' : 'not-True',
    ].join(' '),
  );
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        bind: { type: 'string' },
        key: { type: 'string', multiple: true },
        balance: { type: 'string' },
        'delivery-report-url': { type: 'string' },
        quiet: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    die(err instanceof Error ? err.message : String(err));
  }
  if (values.help) {
    console.log(USAGE);
    return;
  }

  const portRaw = values.port ?? process.env.SIMULATOR_PORT ?? '8081';
  const port = parseNumber(portRaw, 'port', true);
  if (port > 65535) die(`Invalid port: ${portRaw}`);
  const balanceRaw = values.balance ?? process.env.SIMULATOR_BALANCE ?? '1000';
  const balance = parseNumber(balanceRaw, 'balance', false);
  const keySources = values.key ?? (process.env.SIMULATOR_API_KEY ?? 'local-dev-key').split(',');
  const apiKeys = keySources
    .flatMap((k) => k.split(','))
    .map((k) => k.trim())
    .filter((k) => k !== '');
  if (apiKeys.length === 0) die('At least one API key is needed.');

  const host = values.bind ?? values.host ?? '127.0.0.1';
  const warning = bindWarning(
    host,
    'anyone on the network can use its admin API and read the inbox (full numbers and texts)',
  );
  if (warning) console.error(warning);

  const deliveryReportUrl =
    values['delivery-report-url'] ?? process.env.SIMULATOR_DELIVERY_REPORT_URL;

  const sim = await startSimulator({
    port,
    host,
    apiKeys,
    balance,
    ...(deliveryReportUrl ? { deliveryReportUrl } : {}),
    ...(values.quiet ? {} : { onCall: logCall, onReport: logReport }),
  });
  console.log(`Sendmode simulator listening on ${sim.url} (admin: ${sim.origin}/__admin)`);
  console.log(`Inbox (every call, live): ${sim.origin}/`);
  console.log(`Sendmode 3.0 (Engage) on ${sim.urlV3} (SENDMODE_API_VERSION=v3)`);
  const reportUrl = sim.deliveryReports.config().url;
  console.log(
    `Delivery reports: ${reportUrl ?? 'none (--delivery-report-url, or PUT /__admin/delivery-reports)'}`,
  );

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    if (!values.quiet) console.log(`Received ${signal}; stopping.`);
    sim.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((err: unknown) => {
  console.error(`Sendmode simulator failed to start: ${err instanceof Error ? err.message : err}`);
  process.exit(1);
});
