/** Engine events in Docker's `/events` shape, as a typed async-iterable stream. */

/** The object types Docker reports events for (those berth emits). */
export const EventType = {
  Container: 'container',
  Image: 'image',
  Network: 'network',
  Volume: 'volume',
} as const;
/** One of {@link EventType}. */
export type EventType = (typeof EventType)[keyof typeof EventType];

/** One event, exactly as `GET /events` streams it (API 1.41). */
export interface EngineEvent {
  /** Deprecated Docker fields kept for old clients: status (=Action), id, from (image). */
  status?: string;
  id?: string;
  from?: string;
  Type: EventType;
  /** create, start, die, destroy, rename, pull, tag, delete, connect, disconnect, mount, unmount, prune… */
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: 'local';
  /** Seconds since the epoch. */
  time: number;
  /** Nanoseconds since the epoch. */
  timeNano: number;
}

/** What a publisher provides; the bus fills time, scope and the legacy fields. */
export interface EventInput {
  Type: EventType;
  Action: string;
  Actor: { ID: string; Attributes?: Record<string, string> };
}

/** Options of {@link EventBus.subscribe}. */
export interface SubscribeOptions {
  /** Replay stored events from this time (nanoseconds since the epoch). */
  since?: bigint;
  /** Stop at this time; without `since`/`until` the stream is live only and ends with `signal`. */
  until?: bigint;
  /** Docker filters: type, event (Action), container, image, network, volume, label. */
  filters?: Record<string, string[]>;
  signal?: AbortSignal;
}

/**
 * The event bus. Publishing appends to a persisted journal (so `since` works
 * across engine processes and restarts) and to an in-memory ring; subscribers
 * get an `AsyncIterable` that replays from `since`, then follows live events
 * published by any berth process sharing the root.
 */
export interface EventBus {
  /** Publishes one event and returns it as stored. */
  publish(e: EventInput): Promise<EngineEvent>;
  /** Streams matching events; ends at `until`, on `signal` abort, or on `close()`. */
  subscribe(opts?: SubscribeOptions): AsyncIterable<EngineEvent>;
  /** Ends all subscriptions. Idempotent. */
  close(): Promise<void>;
}
