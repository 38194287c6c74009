/**
 * A progress bar for long CLI work, written to stderr so stdout stays machine-readable. On a
 * terminal it redraws one line; otherwise (CI logs, pipes) it prints a line every 10%.
 */

export interface ProgressBar {
  update(done: number, total: number, note?: string): void;
  done(message?: string): void;
}

function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${Math.round(s)}s`;
  return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
}

/** Creates a progress bar with a label. `stream` defaults to process.stderr. */
export function createProgressBar(
  label: string,
  stream: NodeJS.WriteStream = process.stderr,
  options: { quiet?: boolean } = {},
): ProgressBar {
  const start = Date.now();
  const tty = Boolean(stream.isTTY);
  let lastDecile = -1;
  let lastDraw = 0;
  return {
    update(done, total, note) {
      if (options.quiet) return;
      const frac = total > 0 ? Math.min(1, done / total) : 1;
      const elapsed = (Date.now() - start) / 1000;
      const eta = done > 0 ? (elapsed * (total - done)) / done : Number.NaN;
      const text = `${label} ${done}/${total} ${(frac * 100).toFixed(0)}% elapsed ${formatSeconds(elapsed)} eta ${formatSeconds(eta)}${note ? ` ${note}` : ''}`;
      if (tty) {
        const now = Date.now();
        if (now - lastDraw < 100 && done < total) return;
        lastDraw = now;
        const width = 24;
        const filled = Math.round(frac * width);
        stream.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${text}\x1b[K`);
      } else {
        const decile = Math.floor(frac * 10);
        if (decile > lastDecile) {
          lastDecile = decile;
          stream.write(`${text}\n`);
        }
      }
    },
    done(message) {
      if (options.quiet) return;
      if (tty) stream.write('\r\x1b[K');
      if (message) stream.write(`${message}\n`);
    },
  };
}
