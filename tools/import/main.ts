/**
 * `npm run import -- FILE.csv --group NAME [options]`: see import.ts and the README.
 * Exit codes: 0 every row imported (or validated, with --dry-run); 1 some rows rejected or not
 * sent; 2 the command could not run (usage, an unreadable file or header, storage refused).
 */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { phoneRuleFrom } from '../../shared/schemas/phone-number.js';
import { parseSettings, SettingsError } from '../../shared/settings.js';
import { appSettings, openQueueStorage } from '../queues/storage.js';
import { HeaderError } from './columns.js';
import { CsvError } from './csv.js';
import { defaultRejectsFile, ImportError, type ImportSummary, runImport } from './import.js';
import { count } from './progress.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

const USAGE = `Usage: npm run import -- FILE.csv --group NAME [options]

Imports customers from a CSV file (a header row naming the fields: mobilenumber or mobile/phone,
firstname, surname, address, town, county, email, custom1, custom2, businessname, dateofbirth,
group) through the import queue.

  --group NAME          group for rows without a group cell
  --dry-run             validate only; send nothing
  --strict              send nothing if any row is rejected
  --rejects FILE        where rejected rows go (default FILE.rejects.csv)
  --delimiter C         the separator (default: detected from the header: , ; tab |)
  --connection STRING   storage connection string (default: AzureWebJobsStorage from the
                        environment or local.settings.json)
  --account NAME        storage account name, signed in with your Azure identity (az login)
  --queue NAME          the queue (default IMPORT_QUEUE_NAME or customer-imports)
  --concurrency N       messages in flight at once (default 64)
`;

class UsageError extends Error {}

function options() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      group: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
      strict: { type: 'boolean', default: false },
      rejects: { type: 'string' },
      delimiter: { type: 'string' },
      connection: { type: 'string' },
      account: { type: 'string' },
      queue: { type: 'string' },
      concurrency: { type: 'string', default: '64' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const [file, ...rest] = positionals;
  if (!file || rest.length > 0) throw new UsageError('Give exactly one CSV file.');
  if (!existsSync(file)) throw new UsageError(`${file}: no such file.`);
  const concurrency = Number(values.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 512) {
    throw new UsageError('--concurrency must be a whole number from 1 to 512.');
  }
  const delimiter =
    values.delimiter === '\\t' || values.delimiter === 'tab' ? '\t' : values.delimiter;
  if (delimiter !== undefined && delimiter.length !== 1) {
    throw new UsageError('--delimiter must be one character (or "tab").');
  }
  const group = values.group?.trim() || undefined;
  const rejectsFile = values.rejects ?? defaultRejectsFile(file);
  if (resolve(rejectsFile) === resolve(file)) {
    throw new UsageError('--rejects must not be the file being imported.');
  }
  return { file, group, values, concurrency, delimiter, rejectsFile };
}

function report(summary: ImportSummary, queue: string | undefined, where: string | undefined) {
  const err = process.stderr;
  for (const problem of summary.problems) {
    const who = problem.number ? ` (${problem.number})` : '';
    err.write(`line ${problem.line}${who}: ${problem.errors.join('; ')}\n`);
  }
  if (summary.rejected > summary.problems.length) {
    err.write(`… and ${count(summary.rejected - summary.problems.length)} more rejected rows\n`);
  }
  const out = process.stdout;
  const separator = summary.delimiter === '\t' ? 'tab' : `"${summary.delimiter}"`;
  out.write(`\n${summary.file} (separator ${separator})\n`);
  if (summary.ignoredColumns.length > 0) {
    out.write(`  columns ignored   ${summary.ignoredColumns.join(', ')}\n`);
  }
  out.write(`  rows              ${count(summary.rows)}\n`);
  out.write(`  valid             ${count(summary.valid)}\n`);
  out.write(
    `  rejected          ${count(summary.rejected)}${summary.rejectsFile ? ` → ${summary.rejectsFile}` : ''}\n`,
  );
  if (summary.superseded > 0) {
    out.write(
      `  superseded        ${count(summary.superseded)} (a later row has the same group and number: only the last is sent)\n`,
    );
  }
  if (summary.dryRun) {
    out.write(`  dry run: nothing sent (${count(summary.valid - summary.superseded)} would be)\n`);
  } else {
    out.write(
      `  enqueued          ${count(summary.enqueued)}${queue ? ` on ${queue}` : ''}${where ? `, ${where}` : ''}\n`,
    );
    if (summary.notSent > 0) {
      const why = summary.stopped
        ? `stopped: ${summary.stopped}`
        : summary.strict
          ? '--strict and some rows were rejected'
          : '';
      out.write(`  not sent          ${count(summary.notSent)}${why ? ` (${why})` : ''}\n`);
    }
  }
  const rate = summary.seconds > 0 ? Math.round(summary.enqueued / summary.seconds) : 0;
  out.write(
    `  took              ${summary.seconds.toFixed(1)} s${summary.enqueued ? ` (${count(rate)} rows/s)` : ''}\n`,
  );
  if (summary.stopped) {
    out.write('Re-running the same file is safe: importing a customer again updates it.\n');
  }
}

/**
 * Rows are checked with the app's phone-number rule, from its settings as the app would see them
 * here (the environment over local.settings.json): DEFAULT_COUNTRY_CODE, ALLOW_NON_MOBILE_NUMBERS.
 */
function appPhoneRule() {
  const settings = appSettings(ROOT);
  return phoneRuleFrom(
    parseSettings({
      DEFAULT_COUNTRY_CODE: settings.DEFAULT_COUNTRY_CODE,
      ALLOW_NON_MOBILE_NUMBERS: settings.ALLOW_NON_MOBILE_NUMBERS,
    }),
  );
}

async function main(): Promise<number> {
  let args;
  try {
    args = options();
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { file, group, values, concurrency, delimiter, rejectsFile } = args;
  let phoneRule;
  try {
    phoneRule = appPhoneRule();
  } catch (error) {
    if (!(error instanceof SettingsError)) throw error;
    process.stderr.write(`${error.message}\n`);
    return 2;
  }
  try {
    let queue;
    let where: string | undefined;
    if (!values['dry-run']) {
      const storage = await openQueueStorage({
        connection: values.connection,
        account: values.account,
        appDir: ROOT,
      });
      const name = values.queue ?? storage.settings.IMPORT_QUEUE_NAME ?? 'customer-imports';
      queue = storage.service.getQueueClient(name);
      where = storage.description;
    }
    const summary = await runImport({
      file,
      group,
      strict: values.strict,
      dryRun: values['dry-run'],
      rejectsFile,
      delimiter,
      concurrency,
      progress: process.stderr,
      phoneRule,
      ...(queue ? { queue } : {}),
    });
    report(summary, queue?.name, where);
    if (summary.stopped && summary.enqueued === 0) return 2;
    return summary.rejected > 0 || summary.notSent > 0 ? 1 : 0;
  } catch (error) {
    if (error instanceof HeaderError || error instanceof CsvError || error instanceof ImportError) {
      process.stderr.write(`${error.message}\n`);
      return 2;
    }
    throw error;
  }
}

process.exitCode = await main();
