/**
 * `npm run import` throughput: rows per second the import command (tools/import/import.ts:
 * both passes, validation, 64 in flight) puts on a queue in Azurite, beside a bare loop of
 * @azure/storage-queue sendMessage calls with the same concurrency and message size, which is
 * the ceiling here: Azurite answers one message per request. Interleaved rounds, medians;
 * each run into a fresh queue. `IMPORT_BENCH_ROWS` sets the rows per run (default 10,000).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { QueueClient } from '@azure/storage-queue';

import { type Azurite, startAzurite } from '../test/helpers/azurite.js';
import { runImport } from '../tools/import/import.js';
import { type BenchResult, formatRatio, median, ratio } from './stats.js';

export const name = 'import';

const ROWS = Number(process.env.IMPORT_BENCH_ROWS ?? 10_000);
const ROUNDS = 3;
const CONCURRENCY = 64;

function csv(rows: number): string {
  const lines = ['group,mobile,first name,surname,email,dob'];
  for (let i = 0; i < rows; i++) {
    lines.push(
      `Bench,+35387${String(1_000_000 + i)},Ada ${i},"Byrne, Jr",a${i}@example.ie,29/02/1992`,
    );
  }
  return `${lines.join('\n')}\n`;
}

async function bare(queue: QueueClient, rows: number): Promise<number> {
  await queue.createIfNotExists();
  const body = JSON.stringify({
    group: 'Bench',
    importdata: {
      mobilenumber: '+353871000000',
      firstname: 'Ada 0',
      surname: 'Byrne, Jr',
      email: 'a0@example.ie',
      dateofbirth: '29/02/1992',
    },
  });
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < rows) {
        next++;
        await queue.sendMessage(body, { messageTimeToLive: -1 });
      }
    }),
  );
  return rows / ((performance.now() - started) / 1000);
}

export async function run(): Promise<BenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'import-bench-'));
  const file = join(dir, 'customers.csv');
  writeFileSync(file, csv(ROWS));
  let azurite: Azurite | undefined;
  try {
    azurite = await startAzurite();
    const tool: number[] = [];
    const sdk: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? ['tool', 'sdk'] : ['sdk', 'tool'];
      for (const variant of order) {
        const queue = new QueueClient(azurite.connectionString, `bench-${variant}-${round}`);
        if (variant === 'sdk') {
          sdk.push(await bare(queue, ROWS));
        } else {
          const summary = await runImport({
            file,
            group: 'Bench',
            queue,
            concurrency: CONCURRENCY,
            progress: { write: () => true, isTTY: false },
          });
          if (summary.enqueued !== ROWS)
            throw new Error(`import enqueued ${summary.enqueued} of ${ROWS}`);
          tool.push(ROWS / summary.seconds);
        }
        await queue.delete();
      }
    }
    const toolRate = median(tool);
    const sdkRate = median(sdk);
    return {
      title: `import (${ROWS.toLocaleString('en-GB')} rows per run, ${ROUNDS} rounds interleaved, ${CONCURRENCY} in flight, Azurite in memory)`,
      columns: ['npm run import', 'bare sendMessage loop', 'import/bare'],
      rows: [
        {
          label: 'rows enqueued per second (median)',
          cells: [Math.round(toolRate), Math.round(sdkRate), formatRatio(ratio(toolRate, sdkRate))],
        },
        {
          label: 'seconds for 100,000 rows at that rate',
          cells: [Math.round(100_000 / toolRate), Math.round(100_000 / sdkRate), ''],
        },
      ],
      notes: [
        'The import rate includes reading and validating the file twice (validate, then send).',
        'One queue message per customer: Azurite (like a real queue, 2,000 messages/s per queue) is the ceiling.',
      ],
      data: {
        rows: ROWS,
        rounds: ROUNDS,
        concurrency: CONCURRENCY,
        importRowsPerSecond: tool,
        bareRowsPerSecond: sdk,
      },
    };
  } finally {
    await azurite?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
