/**
 * `npm run import`: awkward CSV files (quotes, newlines in a field, BOM, `;`, blank lines, a
 * missing column), the rejects file, --strict, --dry-run, re-runs, and the command itself
 * (progress bar, summary, masked numbers) against Azurite.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { QueueClient } from '@azure/storage-queue';
import { parse } from 'csv-parse/sync';
import { beforeAll, describe, expect, it } from 'vitest';

import { HeaderError } from '../tools/import/columns.js';
import { detectDelimiter } from '../tools/import/csv.js';
import { type ImportOptions, runImport } from '../tools/import/import.js';
import type { Azurite } from './helpers/azurite.js';
import { spawnNode } from './helpers/processes.js';
import { decode } from './helpers/queues.js';
import { sharedAzurite } from './helpers/storage.js';

const dir = mkdtempSync(join(tmpdir(), 'import-csv-'));
let azurite: Azurite;
let n = 0;

const silent = { write: () => true, isTTY: false };

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function queue(): QueueClient {
  return new QueueClient(azurite.connectionString, `imports-${(n += 1)}`);
}

async function drain(q: QueueClient): Promise<unknown[]> {
  const out: unknown[] = [];
  for (;;) {
    const { receivedMessageItems } = await q.receiveMessages({ numberOfMessages: 32 });
    if (receivedMessageItems.length === 0) return out;
    for (const m of receivedMessageItems) {
      out.push(decode(m.messageText));
      await q.deleteMessage(m.messageId, m.popReceipt);
    }
  }
}

const run = (options: Partial<ImportOptions> & { file: string }) =>
  runImport({ progress: silent, ...options });

beforeAll(async () => {
  azurite = await sharedAzurite();
});

describe('reading awkward CSV files', () => {
  it('quotes, an embedded comma, quote and newline, a BOM, CRLF and blank lines', async () => {
    const path = file(
      'awkward.csv',
      '\uFEFFMobile Number,First Name,Address,Group\r\n' +
        '\r\n' +
        '+353 87 100 0001,"Byrne, Aoife","1 Main St\r\nGalway",VIP\r\n' +
        ',,,\r\n' +
        '0871000002,"O""Brien",,\r\n' +
        '\r\n',
    );
    const q = queue();
    const summary = await run({ file: path, group: 'Default', queue: q });
    expect(summary).toMatchObject({ rows: 2, valid: 2, rejected: 0, enqueued: 2, delimiter: ',' });
    expect(await drain(q)).toEqual(
      expect.arrayContaining([
        {
          group: 'VIP',
          importdata: {
            mobilenumber: '+353871000001',
            firstname: 'Byrne, Aoife',
            address: '1 Main St\r\nGalway',
          },
        },
        { group: 'Default', importdata: { mobilenumber: '0871000002', firstname: 'O"Brien' } },
      ]),
    );
  });

  it('detects `;` (and tab) as the separator from the header, outside quotes', () => {
    expect(detectDelimiter('\uFEFFmobile;"first, name";dob\n1,2,3,4,5')).toBe(';');
    expect(detectDelimiter('mobile\tfirstname\n')).toBe('\t');
    expect(detectDelimiter('\n\nmobile,firstname\n')).toBe(',');
    expect(detectDelimiter('mobile')).toBe(',');
  });

  it('a `;` file with commas inside fields, common header spellings, case-insensitive', async () => {
    const path = file(
      'semicolon.csv',
      'PHONE;firstname;Last_Name;E-Mail;DOB;Company;City;notes\n' +
        '+353871000010;Ada;Lovelace, Countess;ada@example.ie;10/12/1990;Acme, Ltd;Cork;ignored\n',
    );
    const q = queue();
    const summary = await run({ file: path, group: 'G', queue: q });
    expect(summary).toMatchObject({ delimiter: ';', enqueued: 1, ignoredColumns: ['notes'] });
    expect(await drain(q)).toEqual([
      {
        group: 'G',
        importdata: {
          mobilenumber: '+353871000010',
          firstname: 'Ada',
          surname: 'Lovelace, Countess',
          email: 'ada@example.ie',
          dateofbirth: '10/12/1990',
          businessname: 'Acme, Ltd',
          town: 'Cork',
        },
      },
    ]);
  });

  it('refuses a file without a mobile number column, naming what it found', async () => {
    const path = file('nonumber.csv', 'firstname,surname\nAda,Byrne\n');
    await expect(run({ file: path, group: 'G', dryRun: true })).rejects.toThrow(HeaderError);
    await expect(run({ file: path, group: 'G', dryRun: true })).rejects.toThrow(
      /no mobile number column.*firstname, surname/,
    );
  });

  it('refuses a file with no group column and no --group, and two columns for one field', async () => {
    await expect(
      run({ file: file('nogroup.csv', 'mobile\n0871234567\n'), dryRun: true }),
    ).rejects.toThrow(/--group/);
    await expect(
      run({ file: file('twice.csv', 'mobile,phone\n1,2\n'), group: 'G', dryRun: true }),
    ).rejects.toThrow(/both mean mobilenumber/);
  });

  it('an unclosed quote is a clear error with the line, not a crash', async () => {
    const path = file('unclosed.csv', 'mobile,firstname\n0871234567,"Ada\n0871234568,Bob\n');
    await expect(run({ file: path, group: 'G', dryRun: true })).rejects.toThrow(
      /not readable as CSV near line/,
    );
  });
});

describe('validation, rejects and re-runs', () => {
  const mixed =
    'mobile;email;dob;group\n' +
    '0871000101;ok@example.ie;01/01/1990;\n' +
    'not a number;bad;31/02/1990;\n' + // line 3
    '0871000102;;;' +
    'x'.repeat(101) +
    '\n' + // line 4: group too long
    '0871000103;;;\n' +
    '0871000104;;;;extra\n'; // line 6: more fields than the header

  it('reports bad rows by line and field, writes them to the rejects file, imports the good ones', async () => {
    const path = file('mixed.csv', mixed);
    const q = queue();
    const summary = await run({ file: path, group: 'G', queue: q });
    expect(summary).toMatchObject({ rows: 5, valid: 2, rejected: 3, enqueued: 2, notSent: 0 });
    expect(summary.problems.map((p) => p.line)).toEqual([3, 4, 6]);
    expect(summary.problems[0]!.errors).toEqual([
      'mobile (mobilenumber): is not a phone number: + optional, then 6-15 digits (spaces, dashes, dots and brackets are ignored)',
      'email: must be an e-mail address',
      'dob (dateofbirth): must be a real date as dd/mm/yyyy, not in the future',
    ]);
    expect(summary.problems[1]!.errors).toEqual(['group: must be at most 100 characters']);
    expect(summary.problems[1]!.number).toBe('*******102');
    expect(JSON.stringify(summary.problems)).not.toContain('0871000102');

    const rejects = readFileSync(summary.rejectsFile!, 'utf8');
    expect(rejects.startsWith('\uFEFF')).toBe(true);
    const rows = parse(rejects, {
      bom: true,
      delimiter: ';',
      columns: true,
      relax_column_count: true,
    }) as Record<string, string>[];
    expect(rows.map((r) => r.line)).toEqual(['3', '4', '6']);
    expect(rows[0]).toMatchObject({ mobile: 'not a number', email: 'bad', dob: '31/02/1990' });
    expect(rows[0]!.error).toContain('mobile (mobilenumber)');

    const sent = (await drain(q)) as { importdata: { mobilenumber: string } }[];
    expect(sent.map((m) => m.importdata.mobilenumber).sort()).toEqual(['0871000101', '0871000103']);
  });

  it('--strict sends nothing when a row is rejected; --dry-run sends nothing at all', async () => {
    const path = file('strict.csv', mixed);
    const q = queue();
    await q.createIfNotExists();
    expect(await run({ file: path, group: 'G', queue: q, strict: true })).toMatchObject({
      enqueued: 0,
      notSent: 2,
      rejected: 3,
    });
    expect(await run({ file: path, group: 'G', queue: q, dryRun: true })).toMatchObject({
      enqueued: 0,
      valid: 2,
    });
    expect(await drain(q)).toEqual([]);
  });

  it('the last row for a group and number wins; re-running the file sends the same messages again', async () => {
    const path = file(
      'dupes.csv',
      'mobile,firstname\n0871000201,Old\n0871000202,Other\n087 100 0201,New\n',
    );
    const q = queue();
    const first = await run({ file: path, group: 'G', queue: q });
    expect(first).toMatchObject({ rows: 3, valid: 3, superseded: 1, enqueued: 2 });
    const sent = (await drain(q)) as { importdata: { firstname: string } }[];
    expect(sent.map((m) => m.importdata.firstname).sort()).toEqual(['New', 'Other']);
    const again = await run({ file: path, group: 'G', queue: q });
    expect(again.enqueued).toBe(2);
    expect(await drain(q)).toEqual(expect.arrayContaining(sent));
  });

  it('the rejects file defuses formula-like cells and imports again with the same values', async () => {
    // Rejected for the missing group only; every other cell starts like a formula.
    const path = file(
      'formulas.csv',
      'mobile,firstname,surname,custom1,custom2,group\n' +
        '+353871000401,=HYPERLINK("http://evil.example"),@SUM(A1),-5,"\tTab",\n' +
        '+353871000402,Fine,,,,G\n',
    );
    const first = await run({ file: path, dryRun: true });
    expect(first).toMatchObject({ rows: 2, valid: 1, rejected: 1 });

    const rejects = readFileSync(first.rejectsFile!, 'utf8');
    const [row] = parse(rejects, { bom: true, columns: true }) as Record<string, string>[];
    expect(row).toMatchObject({
      mobile: "'+353871000401",
      firstname: `'=HYPERLINK("http://evil.example")`,
      surname: "'@SUM(A1)",
      custom1: "'-5",
      custom2: "'\tTab",
    });
    // No cell a spreadsheet would run is left.
    expect(Object.values(row!).filter((cell) => /^[=+\-@\t\r]/.test(cell))).toEqual([]);

    // Fixed (a group given) and imported again: the values as first written, not the `'`.
    const q = queue();
    const again = await run({ file: first.rejectsFile!, group: 'G', queue: q });
    expect(again).toMatchObject({ rows: 1, valid: 1, rejected: 0, enqueued: 1 });
    const [sent] = (await drain(q)) as { group: string; importdata: Record<string, string> }[];
    expect(sent!.group).toBe('G');
    expect(sent!.importdata).toMatchObject({
      mobilenumber: '+353871000401',
      firstname: '=HYPERLINK("http://evil.example")',
      surname: '@SUM(A1)',
      custom1: '-5',
      custom2: 'Tab',
    });
  });

  it('storage that refuses stops the run with the reason and counts what was not sent', async () => {
    const path = file('refused.csv', 'mobile\n0871000301\n0871000302\n');
    const wrongKey = azurite.connectionString.replace(
      /AccountKey=[^;]+/,
      `AccountKey=${Buffer.from('wrong').toString('base64')}`,
    );
    const q = new QueueClient(wrongKey, 'imports-refused', { retryOptions: { maxTries: 1 } });
    const summary = await run({ file: path, group: 'G', queue: q });
    expect(summary.enqueued).toBe(0);
    expect(summary.notSent).toBe(2);
    expect(summary.stopped).toMatch(/Queue Storage is unavailable \(HTTP 403/);
  });
});

describe('npm run import (the command)', () => {
  it('prints a progress bar and a summary, masks numbers, writes rejects, exits 1 on rejects', async () => {
    const lines = ['Mobile,First Name'];
    for (let i = 0; i < 500; i++) lines.push(`+3538720${String(i).padStart(5, '0')},Row ${i}`);
    lines.push('87-999,Short');
    const path = file('cli.csv', `${lines.join('\n')}\n`);
    const q = new QueueClient(azurite.connectionString, 'imports-cli');
    const child = spawnNode(
      [
        '--import',
        'tsx',
        'tools/import/main.ts',
        path,
        '--group',
        'CLI',
        '--connection',
        azurite.connectionString,
        '--queue',
        'imports-cli',
      ],
      { env: { AzureWebJobsStorage: '' } },
    );
    expect(await child.exited).toBe(1);
    const out = child.output();
    expect(out).toMatch(/\[#+\] 500\/500 rows {2}[\d,]+ rows\/s {2}0:00 left/);
    expect(out).toMatch(/rows\s+501\n\s+valid\s+500\n\s+rejected\s+1 → .*cli\.rejects\.csv/);
    expect(out).toMatch(
      new RegExp(
        `enqueued\\s+500 on imports-cli, account ${azurite.account} \\(connection string\\)`,
      ),
    );
    expect(out).toMatch(/line 502 \(\*\*999\): Mobile \(mobilenumber\): is not a phone number/);
    expect(out).not.toMatch(/87-999|353872000/);
    expect(existsSync(join(dir, 'cli.rejects.csv'))).toBe(true);
    expect((await q.getProperties()).approximateMessagesCount).toBe(500);
  });

  it('usage errors exit 2 with the usage', async () => {
    const child = spawnNode(['--import', 'tsx', 'tools/import/main.ts', '--group', 'G']);
    expect(await child.exited).toBe(2);
    expect(child.output()).toContain('Give exactly one CSV file.');
  });
});
