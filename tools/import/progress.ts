/**
 * A one-line progress bar on stderr: rows done of the total, the rate, and the time left. On a
 * terminal it redraws in place; otherwise (a pipe, a CI log) it prints a line every few seconds.
 */

export interface ProgressOutput {
  write(text: string): unknown;
  isTTY?: boolean;
}

const WIDTH = 24;

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--';
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${rest}` : `${m}:${rest}`;
}

export const count = (n: number) => n.toLocaleString('en-GB');

export class ProgressBar {
  #out: ProgressOutput;
  #total: number;
  #done = 0;
  #started = performance.now();
  #timer: NodeJS.Timeout | undefined;
  #lastLine = 0;

  constructor(out: ProgressOutput, total: number, label: string) {
    this.#out = out;
    this.#total = total;
    if (!out.isTTY) out.write(`${label}: ${count(total)} rows\n`);
    this.#timer = setInterval(() => this.#draw(false), out.isTTY ? 100 : 250);
    this.#timer.unref();
  }

  tick(n = 1): void {
    this.#done += n;
  }

  line(): string {
    const seconds = (performance.now() - this.#started) / 1000;
    const rate = seconds > 0 ? this.#done / seconds : 0;
    const left = rate > 0 ? (this.#total - this.#done) / rate : Infinity;
    const share = this.#total > 0 ? this.#done / this.#total : 1;
    const filled = Math.round(share * WIDTH);
    return (
      `[${'#'.repeat(filled)}${'-'.repeat(WIDTH - filled)}] ` +
      `${count(this.#done)}/${count(this.#total)} rows  ${count(Math.round(rate))} rows/s  ` +
      `${formatDuration(left)} left`
    );
  }

  #draw(final: boolean): void {
    if (this.#out.isTTY) {
      this.#out.write(`\r${this.line()}\x1b[K${final ? '\n' : ''}`);
      return;
    }
    const now = performance.now();
    if (final || now - this.#lastLine >= 2_000) {
      this.#lastLine = now;
      this.#out.write(`${this.line()}\n`);
    }
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#draw(true);
  }
}
