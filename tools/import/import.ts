/**
 * `npm run import`: a customer CSV onto the import queue, one message per customer, the same
 * message `POST /api/customers` writes. Two passes over the file:
 *
 * 1. validate every row with the queue's own schema (shared/schemas/customer.ts); bad rows go
 *    to the rejects file with their line and the reason; the last row for a group and number
 *    wins (the queue does not keep order, so earlier rows for the same customer are not sent);
 * 2. unless --dry-run, or --strict with rejects: send the good rows, `concurrency` at a time.
 *
 * Re-running a file is safe: importing a customer again updates it. Output never shows a full
 * phone number; the rejects file holds the rows as they were (formula-like cells defused with a
 * leading `'`, which reading takes off again), so they can be fixed and imported again.
 */
import { createWriteStream } from 'node:fs';
import { finished } from 'node:stream/promises';

import type { QueueClient } from '@azure/storage-queue';
import { stringify } from 'csv-stringify';

import { defuseCell } from '../../shared/csv-safe.js';
import { ValidationError } from '../../shared/errors.js';
import { maskPhoneNumber } from '../../shared/phone.js';
import { enqueue } from '../../shared/queues/queue-storage.js';
import { parseCustomer } from '../../shared/schemas/customer.js';
import { type PhoneRule, withPhoneRule } from '../../shared/schemas/phone-number.js';
import type { ImportCustomerRequest } from '../../shared/sendmode/api.js';
import { type ColumnMap, columnName, mapColumns } from './columns.js';
import { type CsvRow, detectDelimiter, readCsv, readHead } from './csv.js';
import { ProgressBar, type ProgressOutput } from './progress.js';

export interface ImportOptions {
  file: string;
  /** The group for rows without a `group` cell. */
  group?: string | undefined;
  /** Send nothing when any row is rejected. */
  strict?: boolean;
  /** Validate only. */
  dryRun?: boolean;
  /** Where rejected rows go; default `<file>.rejects.csv`. */
  rejectsFile?: string | undefined;
  /** Override the detected separator. */
  delimiter?: string | undefined;
  /** Messages in flight at once. */
  concurrency?: number;
  /** The import queue; required unless dryRun. */
  queue?: QueueClient;
  /** Progress bar and reject lines (stderr). */
  progress: ProgressOutput;
  /**
   * The app's phone-number rule (its DEFAULT_COUNTRY_CODE and ALLOW_NON_MOBILE_NUMBERS), so rows
   * are checked as the queue will check them; default: this process's settings.
   */
  phoneRule?: PhoneRule;
}

export interface RowProblem {
  line: number;
  /** `column (field): message` for each bad field. */
  errors: string[];
  /** The row's masked number, when it has one. */
  number?: string;
}

export interface ImportSummary {
  file: string;
  delimiter: string;
  ignoredColumns: string[];
  /** Data rows (blank lines not counted). */
  rows: number;
  valid: number;
  rejected: number;
  /** Valid rows not sent because a later row has the same group and number. */
  superseded: number;
  enqueued: number;
  /** Valid rows not enqueued because storage failed (see `stopped`). */
  notSent: number;
  rejectsFile?: string;
  /** The first problems, for the console (all are in the rejects file). */
  problems: RowProblem[];
  /** Why sending stopped early, when it did. */
  stopped?: string;
  dryRun: boolean;
  strict: boolean;
  seconds: number;
}

const SHOWN_PROBLEMS = 20;

export function defaultRejectsFile(file: string): string {
  return `${file.replace(/\.(csv|txt)$/i, '')}.rejects.csv`;
}

interface Parsed {
  customer?: ImportCustomerRequest;
  problem?: RowProblem;
}

function parseRow(
  row: CsvRow,
  header: string[],
  columns: ColumnMap,
  group?: string,
  phoneRule?: PhoneRule,
): Parsed {
  const input: Record<string, string> = {};
  for (const [index, field] of columns.fields) {
    const value = row.cells[index]?.trim();
    if (value) input[field] = value;
  }
  if (!input.group && group) input.group = group;
  const masked = input.mobilenumber ? maskPhoneNumber(input.mobilenumber) : undefined;
  const extra = row.cells.slice(header.length).filter((cell) => cell.trim() !== '');
  if (extra.length > 0) {
    return {
      problem: {
        line: row.line,
        errors: [`row: has ${row.cells.length} fields, the header ${header.length}`],
        ...(masked ? { number: masked } : {}),
      },
    };
  }
  try {
    const customer = phoneRule
      ? withPhoneRule(phoneRule, () => parseCustomer(input))
      : parseCustomer(input);
    return { customer };
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    return {
      problem: {
        line: row.line,
        errors: error.errors.map((e) => {
          const column = columnName(header, columns, e.field);
          return `${column === e.field ? e.field : `${column} (${e.field})`}: ${e.message}`;
        }),
        ...(masked ? { number: masked } : {}),
      },
    };
  }
}

const customerKey = (c: ImportCustomerRequest) => `${c.group}\u0000${c.importdata.mobilenumber}`;

/** Data rows with the header, column map and separator. */
async function openRows(options: ImportOptions) {
  const delimiter = options.delimiter ?? detectDelimiter(await readHead(options.file));
  const rows = readCsv(options.file, delimiter);
  const first = await rows.next();
  if (first.done) throw new ImportError(`${options.file} is empty: expected a header row.`);
  const header = first.value.cells;
  const columns = mapColumns(header, Boolean(options.group));
  return { delimiter, header, columns, rows };
}

export class ImportError extends Error {}

export async function runImport(options: ImportOptions): Promise<ImportSummary> {
  const started = performance.now();
  const rejectsFile = options.rejectsFile ?? defaultRejectsFile(options.file);
  const summary: ImportSummary = {
    file: options.file,
    delimiter: ',',
    ignoredColumns: [],
    rows: 0,
    valid: 0,
    rejected: 0,
    superseded: 0,
    enqueued: 0,
    notSent: 0,
    problems: [],
    dryRun: Boolean(options.dryRun),
    strict: Boolean(options.strict),
    seconds: 0,
  };

  // Pass 1: validate everything before anything is sent.
  const first = await openRows(options);
  summary.delimiter = first.delimiter;
  summary.ignoredColumns = first.columns.ignored;
  const lastLineOf = new Map<string, number>();
  let rejects: ReturnType<typeof stringify> | undefined;
  let rejectsDone: Promise<void> | undefined;
  for await (const row of first.rows) {
    summary.rows++;
    const { customer, problem } = parseRow(
      row,
      first.header,
      first.columns,
      options.group,
      options.phoneRule,
    );
    if (customer) {
      summary.valid++;
      const key = customerKey(customer);
      if (lastLineOf.has(key)) summary.superseded++;
      lastLineOf.set(key, row.line);
      continue;
    }
    if (!problem) continue;
    summary.rejected++;
    if (summary.problems.length < SHOWN_PROBLEMS) summary.problems.push(problem);
    if (!rejects) {
      // Same separator as the input, and a BOM, so Excel opens it as the original opened.
      rejects = stringify({
        bom: true,
        delimiter: first.delimiter,
        header: true,
        columns: [...first.header.map(defuseCell), 'line', 'error'],
      });
      const file = createWriteStream(rejectsFile);
      rejectsDone = finished(rejects.pipe(file));
      summary.rejectsFile = rejectsFile;
    }
    // Defused: the cells come from someone else's file and are opened in a spreadsheet.
    const cells = first.header.map((_, i) => defuseCell(row.cells[i] ?? ''));
    rejects.write([...cells, String(row.line), defuseCell(problem.errors.join('; '))]);
  }
  rejects?.end();
  await rejectsDone;

  const toSend = summary.valid - summary.superseded;
  if (options.dryRun || (options.strict && summary.rejected > 0) || toSend === 0) {
    summary.notSent = options.dryRun ? 0 : toSend;
    summary.seconds = (performance.now() - started) / 1000;
    return summary;
  }
  const queue = options.queue;
  if (!queue) throw new ImportError('No queue to send to.');

  // Pass 2: send the rows that passed, the last one for each customer.
  const second = await openRows(options);
  const bar = new ProgressBar(options.progress, toSend, `Enqueuing on ${queue.name}`);
  const concurrency = Math.max(1, options.concurrency ?? 64);
  const inFlight = new Set<Promise<void>>();
  try {
    for await (const row of second.rows) {
      if (summary.stopped) break;
      const { customer } = parseRow(
        row,
        second.header,
        second.columns,
        options.group,
        options.phoneRule,
      );
      if (!customer || lastLineOf.get(customerKey(customer)) !== row.line) continue;
      const sending: Promise<void> = enqueue(queue, customer).then(
        () => {
          summary.enqueued++;
          bar.tick();
        },
        (error: unknown) => {
          // Storage refused or is gone: stop rather than fail every remaining row the same way.
          summary.stopped ??= error instanceof Error ? error.message : String(error);
        },
      );
      const tracked = sending.finally(() => inFlight.delete(tracked));
      inFlight.add(tracked);
      if (inFlight.size >= concurrency) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
  } finally {
    bar.stop();
  }
  summary.notSent = toSend - summary.enqueued;
  summary.seconds = (performance.now() - started) / 1000;
  return summary;
}
