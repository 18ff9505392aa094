/**
 * Small statistics helpers for the benchmarks, and the shape every benchmark module returns.
 * Figures are milliseconds unless a name says otherwise.
 */

/** A table row: a label and one cell per column (numbers are formatted by the runner). */
export interface BenchRow {
  label: string;
  cells: (number | string)[];
}

/** What one benchmark hands back: one table for people, raw figures for the JSON file. */
export interface BenchResult {
  /** The table's heading, e.g. `send-path (N=400 per variant, interleaved)`. */
  title: string;
  /** Column headings after the label column. */
  columns: string[];
  rows: BenchRow[];
  /** Lines printed under the table (caveats, what was loaded, ...). */
  notes?: string[];
  /** Everything measured, written to bench/results/latest.json under the benchmark's name. */
  data: Record<string, unknown>;
}

/** A benchmark module: `export const name` and `export async function run()`. */
export interface Benchmark {
  name: string;
  run(): Promise<BenchResult>;
}

/** Summary of one sample of timings. */
export interface Summary {
  n: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

function sorted(values: readonly number[]): number[] {
  return [...values].sort((a, b) => a - b);
}

/**
 * The q-quantile (0 ≤ q ≤ 1) by linear interpolation between the closest ranks (the common
 * "type 7" definition, as in NumPy and spreadsheets). NaN for an empty sample.
 */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  return quantileOfSorted(sorted(values), q);
}

function quantileOfSorted(ascending: readonly number[], q: number): number {
  const position = (ascending.length - 1) * Math.min(1, Math.max(0, q));
  const lower = Math.floor(position);
  const upper = Math.ceil(position);
  const a = ascending[lower] as number;
  const b = ascending[upper] as number;
  return a + (b - a) * (position - lower);
}

export function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}

export function mean(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  return values.reduce((sum, v) => sum + v, 0) / values.length;
}

export function summarise(values: readonly number[]): Summary {
  const ascending = sorted(values);
  return {
    n: ascending.length,
    min: ascending[0] ?? Number.NaN,
    p50: quantileOfSorted(ascending, 0.5),
    p90: quantileOfSorted(ascending, 0.9),
    p99: quantileOfSorted(ascending, 0.99),
    max: ascending.at(-1) ?? Number.NaN,
    mean: mean(ascending),
  };
}

/** a / b, NaN when b is not a positive number. */
export function ratio(a: number, b: number): number {
  return b > 0 ? a / b : Number.NaN;
}

/** `1.23×` (two decimals). */
export function formatRatio(value: number): string {
  return Number.isFinite(value) ? `${value.toFixed(2)}×` : 'n/a';
}

/** Milliseconds with precision suited to their size: 0.123, 1.23, 12.3, 123. */
export function formatMs(value: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  const abs = Math.abs(value);
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  return value.toFixed(3);
}

/** Rounds every number in a summary to microseconds, for a readable JSON file. */
export function rounded(summary: Summary): Summary {
  const r = (v: number) => Math.round(v * 1000) / 1000;
  return {
    n: summary.n,
    min: r(summary.min),
    p50: r(summary.p50),
    p90: r(summary.p90),
    p99: r(summary.p99),
    max: r(summary.max),
    mean: r(summary.mean),
  };
}

/**
 * The order in which to run `count` variants in round `round`: rotated each round (ABC, BCA,
 * CAB, ...) so no variant always goes first or always follows the same one.
 */
export function rotation(count: number, round: number): number[] {
  return Array.from({ length: count }, (_, i) => (i + round) % count);
}

/** The result as an aligned text table: label column left, figures right-aligned. */
export function formatTable(result: BenchResult): string {
  const cell = (value: number | string) => (typeof value === 'number' ? String(value) : value);
  const widths = result.columns.map((column, i) =>
    Math.max(column.length, ...result.rows.map((row) => cell(row.cells[i] ?? '').length)),
  );
  const labelWidth = Math.max(
    result.title.length,
    ...result.rows.map((row) => row.label.length + 2),
  );
  const line = (label: string, cells: string[]) =>
    (
      label.padEnd(labelWidth) + cells.map((c, i) => '   ' + c.padStart(widths[i] ?? 0)).join('')
    ).trimEnd();
  return [
    line(result.title, result.columns),
    ...result.rows.map((row) =>
      line(
        `  ${row.label}`,
        result.columns.map((_, i) => cell(row.cells[i] ?? '')),
      ),
    ),
    ...(result.notes ?? []).map((note) => `  · ${note}`),
  ].join('\n');
}
