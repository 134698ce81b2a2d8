/**
 * Diagnostics channels the client publishes on. Libraries do not log; the
 * engine or CLI subscribes (`diagnostics_channel.subscribe(name, fn)`) and
 * decides what to show.
 */
import diagnostics_channel from 'node:diagnostics_channel';

/** Channel names, as a const object. */
export const RegistryChannel = {
  /** `{ method, url, status }` after every answered request. */
  Request: 'berth:registry-client:request',
  /** `{ method, url, attempt, delayMs, reason }` before a retry waits. */
  Retry: 'berth:registry-client:retry',
  /** `{ host, scheme, scopes }` when a token or Basic header is obtained. */
  Auth: 'berth:registry-client:auth',
  /** `{ digest, offset, attempt, reason }` when a blob fetch resumes with Range. */
  Resume: 'berth:registry-client:resume',
  /** `{ host, scheme }` when a host's scheme (https, or http fallback) is settled. */
  Host: 'berth:registry-client:host',
} as const;

/** One of the values of {@link RegistryChannel}. */
export type RegistryChannel = (typeof RegistryChannel)[keyof typeof RegistryChannel];

const channels = new Map<string, diagnostics_channel.Channel>();

/** Publishes `message` on a registry channel if anyone listens. */
export function publish(name: RegistryChannel, message: Record<string, unknown>): void {
  let ch = channels.get(name);
  if (!ch) { ch = diagnostics_channel.channel(name); channels.set(name, ch); }
  if (ch.hasSubscribers) ch.publish(message);
}
