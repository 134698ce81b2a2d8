/**
 * The local store's {@link CommitBatch}: staged writers keep their data file
 * open and their ingest lock; each stage starts its file's fsync in the
 * background (all bytes are written by then), so a blob's flush overlaps
 * whatever the caller does next (a pull: the unpack) instead of waiting at
 * the end. `commit` waits for those fsyncs, closes the files, then publishes them all under one
 * metadata lock (renames, one fsync per directory, one edit per lease), and
 * finally removes the published ingests and releases their locks.
 *
 * Crash safety follows from the order: nothing is renamed into `blobs/`
 * before every staged byte is on disk; a crash before the renames leaves
 * complete ingests (a resumed writer rehashes them and commits); a crash
 * between renames leaves each blob either published (its bytes durable) or
 * still an ingest.
 */
import { throwIfAborted } from '@berth/oci-spec';
import type { CallOptions, CommitBatch, CommitOptions, ContentWriter, Info } from '../content.js';
import { StoreClosedError, StoreIoError } from '../errors.js';
import { LocalWriter, type StagedIngest, type WriterHost } from './local-writer.js';

/** What a batch needs from its store. */
export interface BatchHost {
  /** The host this store's writers were opened with. */
  readonly writerHost: WriterHost;
  /**
   * Publishes synced, closed ingests under one metadata lock; sets `done[i]`
   * once item i is visible (or was there already) so its ingest can go.
   */
  publishStaged(items: StagedIngest[], done: boolean[], lease: string | undefined): Promise<Info[]>;
  /** Removes the ingest directory of a published item (its lease entry was edited by the publish). */
  removeIngestDir(dir: string): Promise<void>;
}

type Entry = { staged: StagedIngest } | { info: Info };

/** See the module comment. */
export class LocalBatch implements CommitBatch {
  #entries: Entry[] = [];
  #chain: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(private readonly host: BatchHost, private readonly lease: string | undefined) {}

  /** See {@link CommitBatch.stage}; a writer of another store is committed at once. */
  async stage(writer: ContentWriter, options: CommitOptions = {}): Promise<void> {
    if (this.#closed) throw new StoreClosedError('commit batch');
    if (!(writer instanceof LocalWriter) || !writer.belongsTo(this.host.writerHost)) {
      this.#entries.push({ info: await writer.commit(options) });
      return;
    }
    const staged = await writer.stage(options);
    if (this.#closed) {
      await release([staged]);
      throw new StoreClosedError('commit batch');
    }
    this.#entries.push({ staged });
  }

  /** See {@link CommitBatch.commit}; commits run one at a time, each taking what is staged when it starts. */
  commit(options: CallOptions = {}): Promise<Info[]> {
    const run = this.#chain.then(() => this.#commitNow(options));
    this.#chain = run.catch(() => undefined);
    return run;
  }

  async #commitNow(options: CallOptions): Promise<Info[]> {
    if (this.#closed) throw new StoreClosedError('commit batch');
    const entries = this.#entries;
    this.#entries = [];
    const items = entries.flatMap((e) => ('staged' in e ? [e.staged] : []));
    try {
      throwIfAborted(options.signal, 'commit batch');
      // Durability first: every staged byte on disk before anything is renamed
      // (each fsync was started by its stage, so most are done by now).
      await Promise.all(items.map((i) => i.synced));
    } catch (e) {
      await release(items);
      if (e instanceof Error && 'code' in e && typeof e.code === 'string' && e.code.startsWith('ERR_')) throw e;
      throw new StoreIoError('sync staged ingests', e);
    }
    const done = items.map(() => false);
    let infos: Info[];
    try {
      await Promise.all(items.map((i) => i.fh.close()));
      infos = await this.host.publishStaged(items, done, this.lease);
    } finally {
      await Promise.all(items.map(async (item, k) => {
        await item.fh.close().catch(() => undefined);
        // Published (or there already): the ingest ends; else it stays, resumable.
        if (done[k]) await this.host.removeIngestDir(item.dir).catch(() => undefined);
        await item.lock.release();
      }));
    }
    let k = 0;
    return entries.map((e) => ('staged' in e ? infos[k++]! : e.info));
  }

  /** See {@link CommitBatch.close}. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#chain;
    const items = this.#entries.flatMap((e) => ('staged' in e ? [e.staged] : []));
    this.#entries = [];
    await release(items);
  }
}

/** Closes staged files and releases their ingest locks; the ingests stay. */
async function release(items: StagedIngest[]): Promise<void> {
  await Promise.all(items.map(async (i) => {
    await i.fh.close().catch(() => undefined);
    await i.lock.release();
  }));
}
