/**
 * `npm run bench`: runs every benchmark module below in order, prints one table per benchmark and
 * writes all figures, with the machine they were measured on, to bench/results/latest.json.
 *
 * A benchmark is a module exporting `name` and `run(): Promise<BenchResult>` (bench/stats.ts);
 * add one by importing it and appending it to BENCHMARKS. `npm run bench -- cold-start` runs only
 * the benchmarks whose names contain one of the given words.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

import * as backlog from './backlog.bench.js';
import * as coldStart from './cold-start.bench.js';
import * as localHost from './host.bench.js';
import * as bulkImport from './import.bench.js';
import * as limiter from './limiter.bench.js';
import * as merge from './merge.bench.js';
import * as outbox from './outbox.bench.js';
import * as sendPath from './send-path.bench.js';
import * as smsText from './sms-text.bench.js';
import { type Benchmark, type BenchResult, formatTable } from './stats.js';

const BENCHMARKS: Benchmark[] = [
  sendPath,
  coldStart,
  limiter,
  backlog,
  localHost,
  bulkImport,
  outbox,
  merge,
  smsText,
];

const RESULTS_FILE = join(dirname(fileURLToPath(import.meta.url)), 'results', 'latest.json');

function machine() {
  const cores = cpus();
  return {
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    cpus: cores.length,
    cpuModel: cores[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    loadAverage: loadavg().map((load) => Math.round(load * 100) / 100),
    date: new Date().toISOString(),
  };
}

async function main(): Promise<number> {
  const filters = process.argv.slice(2).filter((arg) => !arg.startsWith('-'));
  const selected = BENCHMARKS.filter(
    (bench) => filters.length === 0 || filters.some((word) => bench.name.includes(word)),
  );
  if (selected.length === 0) {
    console.error(
      `No benchmark matches ${filters.join(', ')}; have: ${BENCHMARKS.map((b) => b.name).join(', ')}`,
    );
    return 2;
  }

  const info = machine();
  console.log(
    `node ${info.node}, ${info.cpus} × ${info.cpuModel}, load ${info.loadAverage.join(' ')}, ${info.date}\n`,
  );
  const results: Record<string, BenchResult['data'] | { error: string }> = {};
  let failed = 0;
  const started = performance.now();
  for (const bench of selected) {
    try {
      const result = await bench.run();
      results[bench.name] = result.data;
      console.log(formatTable(result) + '\n');
    } catch (error) {
      failed++;
      const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
      results[bench.name] = { error: message };
      console.error(`${bench.name} FAILED: ${message}\n`);
    }
  }
  const totalSeconds = Math.round((performance.now() - started) / 100) / 10;

  mkdirSync(dirname(RESULTS_FILE), { recursive: true });
  writeFileSync(
    RESULTS_FILE,
    JSON.stringify({ machine: info, totalSeconds, benchmarks: results }, null, 2) + '\n',
  );
  console.log(`${totalSeconds} s in all; figures in ${relative(process.cwd(), RESULTS_FILE)}`);
  return failed > 0 ? 1 : 0;
}

process.exitCode = await main();
