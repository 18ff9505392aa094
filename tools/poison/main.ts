/**
 * `npm run poison -- list|show|replay|purge QUEUE [ids...] [options]`: see poison.ts and the README.
 * Exit codes: 0 done; 1 some messages could not be replayed; 2 usage, not confirmed, or not found.
 */
import { dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { mainQueueOf, poisonQueueOf } from '../../shared/queue-names.js';
import { openQueueStorage } from '../queues/storage.js';
import { masked, type PoisonEntry, PoisonQueue, type ReplayGate } from './poison.js';
import { sendReplayGate, sendStatuses } from './sends.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

const USAGE = `Usage: npm run poison -- COMMAND QUEUE [ids...] [options]

  list QUEUE                 the poison messages of QUEUE (id, when, attempts, number, reason)
  show QUEUE ID              one message in full (phone numbers masked)
  replay QUEUE ID... | --all put the original messages back on QUEUE, then delete them from poison
  purge QUEUE ID... | --all  delete poison messages (asks first; --yes to skip the question)

QUEUE is the main queue (customer-imports, optout-sync, sms-outbox, or as IMPORT_QUEUE_NAME,
OPT_OUT_QUEUE_NAME and SEND_QUEUE_NAME name them); QUEUE-poison is read.

The send queue (SEND_QUEUE_NAME): list shows each send's id. replay puts the original message,
with its id, back on the queue and reopens the send's status (failed becomes queued again), so
it is sent under the same id and GET /api/sms/{id} and its status URL follow it; a send whose
status is sent is not replayed (purge it).

  --all                every message (replay, purge)
  --match TEXT         only messages whose reason contains TEXT (replay, purge)
  --yes                do not ask before purging
  --json               list as JSON lines
  --connection STRING  storage connection string (default: AzureWebJobsStorage from the
                       environment or local.settings.json)
  --account NAME       storage account name, signed in with your Azure identity (az login)
`;

class UsageError extends Error {}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function printList(entries: PoisonEntry[], json: boolean): void {
  if (json) {
    for (const e of entries) {
      const { payload: _payload, ...rest } = e;
      process.stdout.write(`${JSON.stringify(rest)}\n`);
    }
    return;
  }
  if (entries.length === 0) {
    process.stdout.write('No poison messages.\n');
    return;
  }
  // The send queue's messages carry their send's id: shown when any does.
  const sends = entries.some((e) => e.sendId !== undefined);
  const rows = entries.map((e) => [
    e.id,
    e.when.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
    e.attempts === undefined ? '' : String(e.attempts),
    ...(sends ? [truncate(e.sendId ?? '', 40)] : []),
    e.number ?? '',
    truncate(e.reason.replace(/\s+/g, ' '), 90),
  ]);
  const header = ['id', 'when', 'attempts', ...(sends ? ['send id'] : []), 'number', 'reason'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  process.stdout.write(
    `${line(header)}\n${rows.map(line).join('\n')}\n${entries.length} message(s)\n`,
  );
}

async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) return false;
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return (await rl.question(`${question} Type yes to go on: `)).trim().toLowerCase() === 'yes';
  } finally {
    rl.close();
  }
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      all: { type: 'boolean', default: false },
      match: { type: 'string' },
      yes: { type: 'boolean', short: 'y', default: false },
      json: { type: 'boolean', default: false },
      connection: { type: 'string' },
      account: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command, queueArg, ...ids] = positionals;
  if (values.help || !command) {
    process.stdout.write(USAGE);
    return values.help ? 0 : 2;
  }
  if (!['list', 'show', 'replay', 'purge'].includes(command))
    throw new UsageError(`Unknown command "${command}".`);
  if (!queueArg) throw new UsageError('Name the queue (e.g. customer-imports).');
  if (command === 'show' && ids.length !== 1) throw new UsageError('show takes one message id.');
  if (
    (command === 'replay' || command === 'purge') &&
    ids.length === 0 &&
    !values.all &&
    !values.match
  ) {
    throw new UsageError(`${command} needs message ids, --all or --match TEXT.`);
  }

  const storage = await openQueueStorage({
    connection: values.connection,
    account: values.account,
    appDir: ROOT,
  });
  const name = mainQueueOf(queueArg);
  const sendGate = async (): Promise<ReplayGate> => {
    const { statuses, ttlMs } = await sendStatuses(storage);
    return sendReplayGate(statuses, ttlMs, {
      reopened: (_entry, id) =>
        process.stderr.write(`reopened send ${id}: its status is queued again (was failed)\n`),
      newId: (e, id) =>
        process.stderr.write(
          `${e.id} carried no send id: it is sent as ${id} (its new message id; GET /api/sms/${id})\n`,
        ),
    });
  };
  const queue = new PoisonQueue(
    storage.service.getQueueClient(name),
    storage.service.getQueueClient(poisonQueueOf(name)),
  );
  const wanted = new Set(ids);
  const select = (e: PoisonEntry) =>
    (wanted.size === 0 || wanted.has(e.id)) && (!values.match || e.reason.includes(values.match));

  if (command === 'list') {
    printList(await queue.list(), values.json);
    return 0;
  }
  if (command === 'show') {
    const entry = (await queue.list()).find((e) => e.id === ids[0]);
    if (!entry) {
      process.stderr.write(`No message ${ids[0]} in ${name}-poison.\n`);
      return 2;
    }
    process.stdout.write(
      `${JSON.stringify({ ...entry, payload: masked(entry.payload) }, null, 2)}\n`,
    );
    return 0;
  }
  if (command === 'replay') {
    const gate = name === storage.queueNames.SEND_QUEUE_NAME ? await sendGate() : undefined;
    const { replayed, failed } = await queue.replay(
      select,
      (e) =>
        process.stderr.write(
          `replayed ${e.id}${e.sendId !== undefined ? ` (send ${e.sendId})` : ''}${e.number ? ` (${e.number})` : ''}\n`,
        ),
      gate,
    );
    for (const f of failed) process.stderr.write(`not replayed ${f.id}: ${f.error}\n`);
    process.stdout.write(
      `Replayed ${replayed} message(s) onto ${name}; ${failed.length} failed.\n`,
    );
    if (wanted.size > replayed + failed.length) {
      process.stderr.write(`${wanted.size - replayed - failed.length} id(s) were not found.\n`);
    }
    return failed.length > 0 ? 1 : 0;
  }
  // purge
  const what =
    values.all && !values.match ? `all ${await queue.count()} message(s)` : 'the selected messages';
  if (!values.yes && !(await confirm(`This deletes ${what} from ${name}-poison for good.`))) {
    process.stderr.write('Not confirmed: nothing deleted (pass --yes in scripts).\n');
    return 2;
  }
  const purged = await queue.purge(select);
  process.stdout.write(`Deleted ${purged} message(s) from ${name}-poison.\n`);
  return 0;
}

try {
  process.exitCode = await main();
} catch (error) {
  if (!(error instanceof UsageError) && !(error instanceof TypeError)) throw error;
  process.stderr.write(`${error.message}\n\n${USAGE}`);
  process.exitCode = 2;
}
