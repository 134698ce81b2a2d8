/** Ids, names and time stamps in Docker's formats. */
import { randomHex } from '@berth/oci-spec';
import { InvalidTimeError } from '../errors.js';

/** A new 64-hex-digit id, like Docker's container, network and anonymous volume ids. */
export function newId(): string {
  return randomHex(32);
}

/** Docker's rule for container, volume and network names. */
export const validName = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

const hrBase = process.hrtime.bigint();
const wallBase = BigInt(Date.now()) * 1_000_000n;

/** The current time in nanoseconds since the epoch (wall clock at start + monotonic delta). */
export function nowNanos(): bigint {
  return wallBase + (process.hrtime.bigint() - hrBase);
}

/** Formats nanoseconds since the epoch as Go's RFC3339Nano (UTC, trailing zeros trimmed). */
export function rfc3339Nano(ns: bigint = nowNanos()): string {
  const ms = ns / 1_000_000n;
  const iso = new Date(Number(ms)).toISOString(); // 2024-01-01T00:00:00.000Z
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0').replace(/0+$/, '');
  return `${iso.slice(0, 19)}${frac ? `.${frac}` : ''}Z`;
}

/** Parses an RFC3339(Nano) time to nanoseconds since the epoch, keeping all nine fraction digits. */
export function parseRfc3339Nano(s: string): bigint | undefined {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(s);
  if (!m) return undefined;
  const ms = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(ms)) return undefined;
  return BigInt(ms) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0') || '0');
}

/**
 * Parses a `--since`/`--until` value the way Docker does: a Unix time
 * (`1700000000` or `1700000000.123456789`), an RFC3339 date or date-time, or
 * a Go duration (`10m`, `1h30m`, `1.5s`) counted back from `now`.
 * Returns nanoseconds since the epoch.
 */
export function parseTimestamp(value: string, now: bigint = nowNanos()): bigint {
  const v = value.trim();
  let m = /^(\d+)(?:\.(\d{1,9}))?$/.exec(v);
  if (m) return BigInt(m[1]!) * 1_000_000_000n + BigInt((m[2] ?? '').padEnd(9, '0') || '0');
  const full = parseRfc3339Nano(v);
  if (full !== undefined) return full;
  if (/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$/.test(v)) {
    const ms = Date.parse(v.includes('T') ? `${v}Z` : `${v}T00:00:00Z`);
    if (!Number.isNaN(ms)) return BigInt(ms) * 1_000_000n;
  }
  if (/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(v)) {
    const unit: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
    let total = 0;
    for (const part of v.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(part[1]) * unit[part[2]!]!;
    return now - BigInt(Math.round(total));
  }
  throw new InvalidTimeError(value);
}
