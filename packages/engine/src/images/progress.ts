/**
 * Docker's progress messages (`jsonmessage.JSONMessage`): the rendered bar
 * and human sizes the docker CLI prints, and a byte counter that reports
 * progress in steps rather than per chunk.
 */
import type { ImageProgress } from '../images.js';

/** A size as Docker's `units.HumanSizeWithPrecision(n, 3)` writes it: `2.1MB`, `760kB`, `12B`. */
export function humanSize(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return `${Number(v.toPrecision(3))}${units[i]}`;
}

/** Docker's progress bar: `[=====>      ]  1.2MB/2.4MB` (50 columns). */
export function progressBar(current: number, total: number): string {
  if (total <= 0) return humanSize(current);
  const width = 50;
  const filled = Math.min(width, Math.floor((current / total) * width));
  const bar = filled >= width ? '='.repeat(width) + '>' : '='.repeat(filled) + '>' + ' '.repeat(width - filled - 1);
  return `[${bar}] ${humanSize(current).padStart(8)}/${humanSize(total)}`;
}

/** The 12-hex short form of a digest Docker shows as a layer's id. */
export function shortDigest(digest: string): string {
  const i = digest.indexOf(':');
  return digest.slice(i + 1, i + 13);
}

/**
 * Yields `source` unchanged and reports `status` progress for `id` every
 * 1/100 of `total` (at least 256 KiB) and at the end.
 */
export async function* counted(
  source: AsyncIterable<Uint8Array>, status: string, id: string, total: number, emit: (p: ImageProgress) => void, start = 0,
): AsyncGenerator<Uint8Array> {
  const step = Math.max(256 * 1024, Math.floor(total / 100));
  let current = start;
  let reported = start;
  for await (const c of source) {
    current += c.length;
    if (current - reported >= step) {
      reported = current;
      emit({ status, id, progressDetail: { current, total }, progress: progressBar(current, total) });
    }
    yield c;
  }
  if (current !== reported) emit({ status, id, progressDetail: { current, total }, progress: progressBar(current, total) });
}
