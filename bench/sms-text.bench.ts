/**
 * sms-text: what the text and number rules (smart encoding, phone metadata) cost and save, in process.
 *
 * 1. Parts per message on the corpus of realistic texts (test/fixtures/sms-corpus.ts), with smart
 *    encoding off (the text as given) beside on (look-alikes replaced when that keeps it GSM-7):
 *    what Sendmode bills, as a ratio off/on (the credits saved).
 * 2. Validation cost per recipient: the phone-number rule (libphonenumber-js, its "max"
 *    metadata: shared/schemas/phone-number.ts) beside today's regex (strip separators, `+`
 *    optional and 6-15 digits: shared/phone.ts `normalisePhoneNumber`), on 1,000 recipients
 *    written as people write them, with and without DEFAULT_COUNTRY_CODE. Interleaved rounds,
 *    warm-up discarded, medians.
 * 3. First use: a fresh `node` importing each rule (bundled, as deployed) and checking one
 *    number: what the first send of an instance pays to load the metadata.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { build } from 'esbuild';

import { normalisePhoneNumber } from '../shared/phone.js';
import { checkPhoneNumber, type PhoneRule } from '../shared/schemas/phone-number.js';
import { describeSms } from '../shared/sendmode/sms-text.js';
import { SMS_CORPUS } from '../test/fixtures/sms-corpus.js';
import {
  type BenchResult,
  formatRatio,
  mean,
  median,
  ratio,
  rotation,
  rounded,
  summarise,
} from './stats.js';

export const name = 'sms-text';

const RECIPIENTS = 1_000;
const ROUNDS = 40;
const WARMUP_ROUNDS = 5;
const FIRST_USE_RUNS = 7;

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const WORK = join(ROOT, '.tools', 'bench', 'sms-text');

/** 1,000 recipients as a customer list has them: mostly Irish, in every usual form, some UK. */
function recipients(): string[] {
  return Array.from({ length: RECIPIENTS }, (_, i) => {
    const n = String(1_000_000 + ((i * 7919) % 9_000_000)).slice(-7);
    const prefix = ['83', '85', '86', '87', '89'][i % 5]!;
    switch (i % 10) {
      case 0:
      case 1:
      case 2:
      case 3:
        return `+353 ${prefix} ${n.slice(0, 3)} ${n.slice(3)}`;
      case 4:
      case 5:
      case 6:
        return `0${prefix} ${n.slice(0, 3)} ${n.slice(3)}`;
      case 7:
        return `00353${prefix}${n}`;
      case 8:
        return `(0${prefix}) ${n.slice(0, 3)}-${n.slice(3)}`;
      default:
        return `+44 74${n.slice(0, 2)} ${n.slice(2)}0`;
    }
  });
}

type Variant = { label: string; check: (raw: string) => unknown };

function timeValidation(list: string[], variants: Variant[]): number[][] {
  const perRecipientUs: number[][] = variants.map(() => []);
  for (let round = 0; round < WARMUP_ROUNDS + ROUNDS; round++) {
    for (const index of rotation(variants.length, round)) {
      const { check } = variants[index]!;
      const started = performance.now();
      let accepted = 0;
      for (const raw of list) if (check(raw) !== undefined) accepted++;
      const elapsed = performance.now() - started;
      if (accepted === 0) throw new Error('nothing accepted');
      if (round >= WARMUP_ROUNDS) perRecipientUs[index]!.push((elapsed * 1000) / list.length);
    }
  }
  return perRecipientUs;
}

/** Import + first check in a fresh node, for each entry (bundled as the app is), ms. */
async function firstUse(): Promise<{ regex: number[]; library: number[] }> {
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(WORK, { recursive: true });
  const entries = {
    regex: `import { normalisePhoneNumber } from '${join(ROOT, 'shared/phone.ts')}';
export const check = (raw) => normalisePhoneNumber(raw);`,
    library: `import { parsePhoneNumberFromString } from 'libphonenumber-js/core';
import metadata from 'libphonenumber-js/metadata.max.json';
export const check = (raw) => { const n = parsePhoneNumberFromString(raw, metadata); return n?.isValid() && n.getType(); };`,
  };
  for (const [entry, contents] of Object.entries(entries)) {
    await build({
      stdin: { contents, resolveDir: ROOT, loader: 'ts', sourcefile: `${entry}.ts` },
      outfile: join(WORK, `${entry}.mjs`),
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      minifyWhitespace: true,
      minifySyntax: true,
      logLevel: 'warning',
    });
  }
  const probe = join(WORK, 'probe.mjs');
  writeFileSync(
    probe,
    `const started = performance.now();
const { check } = await import(process.argv[2]);
if (!check('+353871234567')) process.exit(1);
console.log(performance.now() - started);`,
  );
  const times = { regex: [] as number[], library: [] as number[] };
  for (let run = 0; run < FIRST_USE_RUNS + 1; run++) {
    for (const entry of run % 2 === 0
      ? (['regex', 'library'] as const)
      : (['library', 'regex'] as const)) {
      const result = spawnSync(process.execPath, [probe, join(WORK, `${entry}.mjs`)], {
        encoding: 'utf8',
      });
      if (result.status !== 0) throw new Error(`first-use probe failed: ${result.stderr}`);
      if (run > 0) times[entry].push(Number(result.stdout.trim()));
    }
  }
  return times;
}

export async function run(): Promise<BenchResult> {
  // 1. Parts on the corpus.
  const texts = SMS_CORPUS.map(({ name: label, text }) => ({
    name: label,
    off: describeSms(text, false),
    on: describeSms(text, true),
  }));
  const partsOff = texts.map((t) => t.off.parts);
  const partsOn = texts.map((t) => t.on.parts);
  const totalOff = partsOff.reduce((a, b) => a + b, 0);
  const totalOn = partsOn.reduce((a, b) => a + b, 0);
  const gsmOff = texts.filter((t) => t.off.encoding === 'GSM-7').length;
  const gsmOn = texts.filter((t) => t.on.encoding === 'GSM-7').length;
  const helped = texts.filter((t) => t.on.parts < t.off.parts).length;

  // 2. Validation per recipient.
  const list = recipients();
  const none: PhoneRule = { allowNonMobile: false };
  const ireland: PhoneRule = { defaultCallingCode: '353', allowNonMobile: false };
  const valid = (rule: PhoneRule) => (raw: string) => {
    const checked = checkPhoneNumber(raw, rule);
    return checked.ok ? checked.number : undefined;
  };
  const variants: Variant[] = [
    { label: "today's regex", check: normalisePhoneNumber },
    { label: 'library, no DEFAULT_COUNTRY_CODE', check: valid(none) },
    { label: 'library, DEFAULT_COUNTRY_CODE=IE', check: valid(ireland) },
  ];
  const refusedWithIreland = list.filter((raw) => !checkPhoneNumber(raw, ireland).ok).length;
  const [regexUs, noneUs, ieUs] = timeValidation(list, variants) as [number[], number[], number[]];
  const regex = median(regexUs);
  const libraryNone = median(noneUs);
  const libraryIe = median(ieUs);

  // 3. First use in a fresh process.
  const first = await firstUse();
  const firstRegex = median(first.regex);
  const firstLibrary = median(first.library);

  const us = (value: number) => value.toFixed(2);
  const ms = (value: number) => value.toFixed(1);
  return {
    title: `sms-text (${SMS_CORPUS.length} corpus texts; ${RECIPIENTS.toLocaleString('en-GB')} recipients × ${ROUNDS} rounds interleaved; first use ${FIRST_USE_RUNS} fresh node runs)`,
    columns: ['today (off / regex)', 'with the rules (on / library)', 'ratio'],
    rows: [
      {
        label: 'SMS parts per message, smart encoding off → on (mean)',
        cells: [
          mean(partsOff).toFixed(2),
          mean(partsOn).toFixed(2),
          `${formatRatio(ratio(totalOff, totalOn))} off/on`,
        ],
      },
      {
        label: 'SMS parts for the whole corpus',
        cells: [totalOff, totalOn, `${Math.round((1 - totalOn / totalOff) * 100)}% fewer`],
      },
      {
        label: 'texts sent in GSM-7',
        cells: [`${gsmOff}/${texts.length}`, `${gsmOn}/${texts.length}`, ''],
      },
      {
        label: 'validation µs per recipient (p50), no DEFAULT_COUNTRY_CODE',
        cells: [us(regex), us(libraryNone), `${formatRatio(ratio(libraryNone, regex))} lib/regex`],
      },
      {
        label: 'validation µs per recipient (p50), DEFAULT_COUNTRY_CODE=IE',
        cells: [us(regex), us(libraryIe), `${formatRatio(ratio(libraryIe, regex))} lib/regex`],
      },
      {
        label: 'validation ms for a 1,000-recipient send (p50), DEFAULT_COUNTRY_CODE=IE',
        cells: [
          ms((regex * RECIPIENTS) / 1000),
          ms((libraryIe * RECIPIENTS) / 1000),
          `${formatRatio(ratio(libraryIe, regex))} lib/regex`,
        ],
      },
      {
        label: 'first use in a fresh node: import + one check (ms, p50)',
        cells: [
          ms(firstRegex),
          ms(firstLibrary),
          `+${ms(firstLibrary - firstRegex)} ms for the metadata`,
        ],
      },
    ],
    notes: [
      `Smart encoding helped ${helped} of ${texts.length} texts; the others were GSM-7 already, or keep UCS-2 for an emoji, another script or a letter GSM-7 lacks (á, ç, ł).`,
      `The recipients: 40% +353 8x xxx xxxx, 30% 08x xxx xxxx, 10% 00353…, 10% (08x) xxx-xxxx, 10% +44 74xx; with IE ${refusedWithIreland} of them are refused (not valid numbers), without it national forms pass unchecked.`,
      'First use is paid once per instance, by the first handler that checks a number (the metadata is in its chunk, never in the app’s start-up).',
    ],
    data: {
      corpus: texts,
      partsOff: totalOff,
      partsOn: totalOn,
      partsRatioOffOn: ratio(totalOff, totalOn),
      validationUsPerRecipient: {
        regex: rounded(summarise(regexUs)),
        libraryNoCountry: rounded(summarise(noneUs)),
        libraryIreland: rounded(summarise(ieUs)),
      },
      firstUseMs: {
        regex: rounded(summarise(first.regex)),
        library: rounded(summarise(first.library)),
      },
    },
  };
}
