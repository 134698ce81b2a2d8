/**
 * An {@link EventBus} backed by an append-only JSON-lines journal
 * (`<root>/events.jsonl`, rotated to `.1` past `maxBytes`) plus an in-memory
 * ring of the latest events. Several berth processes may share one root: each
 * appends whole lines with O_APPEND (atomic for lines under PIPE_BUF-ish
 * sizes on local filesystems), and live subscribers tail the journal. A
 * rotation holds flock(2) on `<root>/events.jsonl.lock` (see `#rotate`).
 */
import { EventEmitter } from 'node:events';
import fs from 'node:fs/promises';
import { appendFileSync, closeSync, mkdirSync, openSync, renameSync, statSync } from 'node:fs';
import path from 'node:path';
import { flockExclusive } from '@berth/namespaces';
import { ClosedError, InvalidFilterError } from '../errors.js';
import type { EngineEvent, EventBus, EventInput, SubscribeOptions } from '../event.js';
import { nowNanos } from '../internal/ids.js';
import { readAppendedLines, type TailPosition } from '../internal/tail.js';

/** Options of {@link openJournalEventBus}. */
export interface JournalEventBusOptions {
  /** The engine root; the journal is `<root>/events.jsonl`. */
  root: string;
  /** Events kept in memory (Docker keeps 256). */
  ringSize?: number;
  /** Rotate the journal past this size (default 4 MiB). */
  maxBytes?: number;
  /** How often live subscribers look for events of other processes, ms (default 200). */
  pollMs?: number;
}

/** Opens the journal-backed {@link EventBus}. */
export async function openJournalEventBus(opts: JournalEventBusOptions): Promise<JournalEventBus> {
  // Synchronously: a mkdir and an open of local files (no trips through the libuv pool).
  mkdirSync(opts.root, { recursive: true });
  const bus = new JournalEventBus(opts);
  closeSync(openSync(bus.journal, 'a', 0o600));
  return bus;
}

/** How many appended bytes between two looks at the journal's size. */
const statEvery = 64 * 1024;

const validKeys = new Set(['type', 'event', 'container', 'image', 'network', 'volume', 'label', 'scope']);

/** Checks filter keys; throws `ERR_ENGINE_INVALID_FILTER`. */
export function validateEventFilters(filters: Record<string, string[]> = {}): void {
  for (const k of Object.keys(filters)) if (!validKeys.has(k)) throw new InvalidFilterError(k, 'unknown filter key');
}

/** Does `e` pass Docker's event filters (values OR-ed per key, keys AND-ed)? */
export function eventMatches(e: EngineEvent, filters: Record<string, string[]> = {}): boolean {
  const attr = e.Actor.Attributes;
  for (const [key, values] of Object.entries(filters)) {
    if (!values.length) continue;
    const ok = values.some((v) => {
      switch (key) {
        case 'type': return e.Type === v;
        case 'event': return e.Action === v || e.Action.startsWith(`${v}:`);
        case 'scope': return e.scope === v;
        case 'label': {
          const i = v.indexOf('=');
          return i < 0 ? v in attr : attr[v.slice(0, i)] === v.slice(i + 1);
        }
        case 'container': case 'network': case 'volume':
          return (e.Type === key && (e.Actor.ID.startsWith(v) || attr.name === v))
            || attr[key] === v || (key === 'container' && e.Type === 'network' && attr.container === v);
        case 'image':
          return (e.Type === 'image' && (e.Actor.ID === v || attr.name === v)) || attr.image === v || e.from === v;
        default: return false;
      }
    });
    if (!ok) return false;
  }
  return true;
}

/** The journal-backed {@link EventBus}. Create with {@link openJournalEventBus}. */
export class JournalEventBus implements EventBus {
  /** `<root>/events.jsonl`. */
  readonly journal: string;
  readonly #ring: EngineEvent[] = [];
  readonly #ringSize: number;
  readonly #maxBytes: number;
  readonly #pollMs: number;
  readonly #emitter = new EventEmitter();
  #closed = false;
  #queue: Promise<void> = Promise.resolve();
  readonly #closeCtl = new AbortController();
  /** Bytes this process appended since it last looked at the journal's size (undefined: never looked). */
  #sinceStat: number | undefined;

  constructor(opts: JournalEventBusOptions) {
    this.journal = path.join(opts.root, 'events.jsonl');
    this.#ringSize = opts.ringSize ?? 256;
    this.#maxBytes = opts.maxBytes ?? 4 * 1024 * 1024;
    this.#pollMs = opts.pollMs ?? 200;
    this.#emitter.setMaxListeners(0);
  }

  publish(input: EventInput): Promise<EngineEvent> {
    if (this.#closed) return Promise.reject(new ClosedError('event bus'));
    // Serialised: parallel appends could land out of order.
    const p = this.#queue.then(() => this.#append(input));
    this.#queue = p.then(() => undefined, () => undefined);
    return p;
  }

  /**
   * Renames the journal to `.1`, holding flock(2) on `<journal>.lock` and
   * looking at its size again under it: two processes that both found it too
   * big would otherwise both rename it, the second one the journal the first
   * had just begun, over the full one. The lock is taken only to rotate, and
   * held for a stat and a rename (a wait here is that long); the wait polls
   * (flockExclusive), so the event loop never blocks on another process.
   */
  async #rotate(): Promise<void> {
    const fd = openSync(`${this.journal}.lock`, 'a', 0o600);
    try {
      await flockExclusive(fd, { what: 'event journal rotation' });
      const st = statSync(this.journal, { throwIfNoEntry: false });
      if (st && st.size > this.#maxBytes) renameSync(this.journal, `${this.journal}.1`);
    } finally {
      closeSync(fd);
    }
  }

  async #append(input: EventInput): Promise<EngineEvent> {
    const ns = nowNanos();
    const e: EngineEvent = {
      Type: input.Type,
      Action: input.Action,
      Actor: { ID: input.Actor.ID, Attributes: { ...(input.Actor.Attributes ?? {}) } },
      scope: 'local',
      time: Number(ns / 1_000_000_000n),
      timeNano: Number(ns),
    };
    if (input.Type === 'container') {
      e.status = input.Action;
      e.id = input.Actor.ID;
      if (e.Actor.Attributes.image) e.from = e.Actor.Attributes.image;
    }
    this.#ring.push(e);
    if (this.#ring.length > this.#ringSize) this.#ring.shift();
    // The size is checked on this process's first append and after each 64 KiB (or maxBytes / 8) it appended, not on every event:
    // every process does the same, so the journal overshoots maxBytes by little before one of them rotates it.
    const line = `${JSON.stringify(e)}\n`;
    if (this.#sinceStat === undefined || this.#sinceStat >= Math.min(statEvery, this.#maxBytes / 8)) {
      const st = statSync(this.journal, { throwIfNoEntry: false });
      if (st && st.size > this.#maxBytes) await this.#rotate();
      this.#sinceStat = 0;
    }
    // One small O_APPEND write, synchronously: cheaper than three trips through the libuv pool.
    appendFileSync(this.journal, line, { mode: 0o600 });
    this.#sinceStat += Buffer.byteLength(line);
    this.#emitter.emit('event');
    return e;
  }

  /** The in-memory ring (this process's latest events), oldest first. */
  recent(): readonly EngineEvent[] {
    return [...this.#ring];
  }

  subscribe(opts: SubscribeOptions = {}): AsyncIterable<EngineEvent> {
    validateEventFilters(opts.filters);
    // Live following begins at the journal's end as of this call, taken synchronously: this process appends
    // synchronously too, so every event it publishes after subscribe() returns is seen, and none before.
    const st = statSync(this.journal, { throwIfNoEntry: false });
    const start = { offset: st?.size ?? 0, ino: st?.ino ?? 0 };
    return { [Symbol.asyncIterator]: () => this.#iterate(opts, start) };
  }

  async *#iterate(opts: SubscribeOptions, start: { offset: number; ino: number }): AsyncGenerator<EngineEvent> {
    const filters = opts.filters ?? {};
    const stop = AbortSignal.any([this.#closeCtl.signal, ...(opts.signal ? [opts.signal] : [])]);
    let { offset, ino } = start;
    const pass = (e: EngineEvent) => eventMatches(e, filters)
      && (opts.since === undefined || BigInt(e.timeNano) >= opts.since)
      && (opts.until === undefined || BigInt(e.timeNano) <= opts.until);
    if (opts.since !== undefined) {
      const past: EngineEvent[] = [];
      ino = (await fs.stat(this.journal).catch(() => undefined))?.ino ?? 0;
      for (const f of [`${this.journal}.1`, this.journal]) {
        let data = await fs.readFile(f, 'utf8').catch(() => '');
        if (f === this.journal) {
          // Follow from exactly the end of the complete lines just replayed.
          data = data.slice(0, data.lastIndexOf('\n') + 1);
          offset = Buffer.byteLength(data);
        }
        for (const line of data.split('\n')) {
          const e = parse(line);
          if (e && pass(e)) past.push(e);
        }
      }
      past.sort((a, b) => a.timeNano - b.timeNano);
      for (const e of past) yield e;
    }
    const now = nowNanos();
    if (opts.until !== undefined && opts.until <= now) return;
    let wake: (() => void) | undefined;
    const onEvent = () => wake?.();
    this.#emitter.on('event', onEvent);
    stop.addEventListener('abort', onEvent, { once: true });
    const pos: TailPosition = { offset, pending: '' };
    try {
      while (!stop.aborted) {
        const st = await fs.stat(this.journal).catch(() => undefined);
        if (st && (st.ino !== ino || st.size < pos.offset)) {
          pos.offset = 0;
          pos.pending = '';
          ino = st.ino;
        }
        if (st && st.size > pos.offset) {
          for (const line of (await readAppendedLines(this.journal, st.size, pos)).lines) {
            const e = parse(line);
            if (!e) continue;
            if (opts.until !== undefined && BigInt(e.timeNano) > opts.until) return;
            if (pass(e)) yield e;
          }
          continue;
        }
        if (opts.until !== undefined && nowNanos() > opts.until) return;
        await new Promise<void>((resolve) => {
          const t = setTimeout(done, this.#pollMs);
          function done() { clearTimeout(t); resolve(); }
          wake = done;
        });
        wake = undefined;
      }
    } finally {
      this.#emitter.off('event', onEvent);
      stop.removeEventListener('abort', onEvent);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#queue;
    this.#closeCtl.abort();
  }
}

function parse(line: string): EngineEvent | undefined {
  if (!line) return undefined;
  try {
    return JSON.parse(line) as EngineEvent;
  } catch {
    return undefined;
  }
}
