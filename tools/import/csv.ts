/**
 * Reading a customer CSV with csv-parse (RFC 4180: quoted fields with embedded separators,
 * quotes and newlines), streaming, so the file's size does not matter. A UTF-8 BOM is
 * dropped; the separator is the one the header line uses most (`,` `;` tab or `|`), as Excel
 * writes `;` where the decimal mark is a comma. Blank lines and rows with only empty cells are
 * skipped. Each row carries the line it starts on, for messages. A cell defused as our rejects
 * file writes it (`'+353…`, `'=…`) is read as it was, so that file can be imported again.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';

import { parse } from 'csv-parse';

import { undefuseCell } from '../../shared/csv-safe.js';

export interface CsvRow {
  /** The line the row starts on (1 = the header). */
  line: number;
  cells: string[];
}

const CANDIDATES = [',', ';', '\t', '|'] as const;
/** The longest row csv-parse will hold: far beyond any real customer, short of exhausting memory. */
const MAX_RECORD_BYTES = 1024 * 1024;

export class CsvError extends Error {}

/** The separator the first non-blank line uses most, counted outside quotes; `,` if none. */
export function detectDelimiter(head: string): string {
  const text = head.startsWith('\uFEFF') ? head.slice(1) : head;
  const counts = new Map<string, number>(CANDIDATES.map((c) => [c, 0]));
  let quoted = false;
  let started = false;
  for (const char of text) {
    if (char === '"') quoted = !quoted;
    else if (!quoted && (char === '\n' || char === '\r')) {
      if (started) break;
    } else if (!quoted && counts.has(char)) counts.set(char, (counts.get(char) ?? 0) + 1);
    if (char.trim() !== '') started = true;
  }
  let best = ',';
  for (const [candidate, count] of counts) {
    if (count > (counts.get(best) ?? 0)) best = candidate;
  }
  return best;
}

/** The first 64 KiB of a file, as text (enough for any header line). */
export async function readHead(path: string): Promise<string> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(64 * 1024);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return buffer.subarray(0, bytesRead).toString('utf8');
  } finally {
    await handle.close();
  }
}

function countNewlines(cells: string[]): number {
  let count = 0;
  for (const cell of cells) {
    for (let i = cell.indexOf('\n'); i >= 0; i = cell.indexOf('\n', i + 1)) count++;
  }
  return count;
}

/** Every non-blank row, the header first. Throws CsvError (with the line) when the file is not CSV. */
export async function* readCsv(path: string, delimiter: string): AsyncGenerator<CsvRow> {
  const parser = createReadStream(path).pipe(
    parse({
      bom: true,
      delimiter,
      info: true,
      relax_column_count: true,
      relax_quotes: true,
      skip_empty_lines: true,
      max_record_size: MAX_RECORD_BYTES,
    }),
  );
  try {
    for await (const { record, info } of parser as AsyncIterable<{
      record: string[];
      info: { lines: number };
    }>) {
      if (record.every((cell) => cell.trim() === '')) continue;
      yield { line: info.lines - countNewlines(record), cells: record.map(undefuseCell) };
    }
  } catch (error) {
    const e = error as { message?: string; lines?: number; code?: string };
    if (e.code?.startsWith('CSV_')) {
      throw new CsvError(`${path}: not readable as CSV near line ${e.lines ?? '?'}: ${e.message}`);
    }
    throw error;
  }
}
