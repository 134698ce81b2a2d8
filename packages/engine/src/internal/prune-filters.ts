/**
 * Docker's prune filters, one rule for containers, images and networks
 * (`docker container|image|network|system prune --filter`):
 * - `until=<timestamp>`: only what was created before it (a Unix time, an
 *   RFC 3339 date or a Go duration ago, as `docker events --until`); at most one;
 * - `label=<key>` / `label=<key>=<value>`: only what carries every one of them;
 * - `label!=<key>` / `label!=<key>=<value>`: not what carries every one of them.
 * Any other key is `ERR_ENGINE_INVALID_FILTER`.
 */
import { InvalidFilterError } from '../errors.js';
import { parseRfc3339Nano, parseTimestamp } from './ids.js';

/** Does `labels` carry `filter` (`key` present, or `key=value` equal)? */
export function labelMatches(labels: Readonly<Record<string, string>>, filter: string): boolean {
  const i = filter.indexOf('=');
  return i < 0 ? filter in labels : labels[filter.slice(0, i)] === filter.slice(i + 1);
}

/** What a prune filter looks at: the creation time (ns since the epoch) and the labels. */
export interface PruneCandidate {
  createdNs: bigint;
  labels: Readonly<Record<string, string>>;
}

/**
 * The predicate of `filters` (validated now, so a bad filter fails before
 * anything is removed). `extraKeys` are keys the caller handles itself
 * (`dangling` of image prune, `all` of volume prune); they pass here.
 */
export function pruneFilter(filters: Readonly<Record<string, readonly string[]>> = {}, extraKeys: readonly string[] = []): (c: PruneCandidate) => boolean {
  let until: bigint | undefined;
  for (const [key, values] of Object.entries(filters)) {
    if (key === 'until') {
      if (values.length > 1) throw new InvalidFilterError('until', 'more than one until filter specified');
      if (values.length === 1) until = parseTimestamp(values[0]!);
    } else if (key !== 'label' && key !== 'label!' && !extraKeys.includes(key)) {
      throw new InvalidFilterError(key, 'not a prune filter (until, label, label!)');
    }
  }
  const want = filters.label ?? [];
  const exclude = filters['label!'] ?? [];
  return (c) => {
    if (until !== undefined && c.createdNs >= until) return false;
    if (!want.every((l) => labelMatches(c.labels, l))) return false;
    if (exclude.length > 0 && exclude.every((l) => labelMatches(c.labels, l))) return false;
    return true;
  };
}

/** Nanoseconds since the epoch of an RFC 3339 date (Docker's `Created` of containers and networks). */
export function isoToNs(iso: string | undefined): bigint {
  if (!iso) return 0n;
  const ns = parseRfc3339Nano(iso);
  if (ns !== undefined) return ns;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? 0n : BigInt(ms) * 1_000_000n;
}
