/**
 * The suppressed numbers as a CSV download (`GET /api/optouts?format=csv`): read from storage a
 * page at a time as the stream is pulled, never built whole. Only numbers, times, states,
 * sources, keywords and webhook ids: never message text.
 */
import { csvField } from '../csv-safe.js';
import { DEFAULT_PAGE_SIZE, type ListQuery } from '../schemas/opt-out-admin.js';
import { listed } from './opt-out-admin.js';
import type { SuppressionEntry, SuppressionList } from './suppression.js';

/** Rows read from storage per pull of the CSV stream when no pageSize is given. */
const CSV_SCAN_PAGE = 1_000;

export const CSV_COLUMNS = [
  'number',
  'suppressedSince',
  'firstOptedOutAt',
  'sendmodeSync',
  'lastSource',
  'lastKeyword',
  'lastWebhookId',
] as const;

function csvRow(entry: SuppressionEntry): string {
  const fields = [
    entry.number,
    entry.since,
    entry.firstOptedOutAt,
    entry.sendmodeSync,
    entry.lastChange?.source,
    entry.lastChange?.keyword,
    entry.lastChange?.webhookId,
  ];
  return `${fields.map(csvField).join(',')}\r\n`;
}

/**
 * The suppressed numbers as CSV (RFC 4180, CRLF), a stream that reads one page from storage per
 * pull. The first page is read before returning, so storage being down is a 503, not a broken
 * download; a failure later errors the stream.
 */
export async function csvExport(
  list: SuppressionList,
  query: ListQuery,
): Promise<ReadableStream<Uint8Array>> {
  const scanPage = query.pageSize === DEFAULT_PAGE_SIZE ? CSV_SCAN_PAGE : query.pageSize;
  const iterator = list.entries(query.after, scanPage, query.since)[Symbol.asyncIterator]();
  const encoder = new TextEncoder();
  let first: IteratorResult<SuppressionEntry> | undefined = await iterator.next();
  return new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(encoder.encode(`${CSV_COLUMNS.join(',')}\r\n`));
    },
    async pull(controller) {
      let chunk = '';
      for (let rows = 0; rows < scanPage; rows++) {
        const next = first ?? (await iterator.next());
        first = undefined;
        if (next.done) {
          if (chunk) controller.enqueue(encoder.encode(chunk));
          controller.close();
          return;
        }
        if (listed(next.value, query)) chunk += csvRow(next.value);
      }
      if (chunk) controller.enqueue(encoder.encode(chunk));
    },
    async cancel() {
      await iterator.return?.(undefined);
    },
  });
}
