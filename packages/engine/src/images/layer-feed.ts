/**
 * LayerFeed: hands a layer's bytes to its unpacker while they are still
 * being downloaded, so unpacking overlaps the download instead of reading
 * the blob back from the store afterwards.
 *
 * The downloader calls `start()` when it fetches the blob from its first
 * byte (`ready` resolves true: the feed will carry the whole blob) or
 * `abandon()` when it will not (a resumed ingest, a blob already stored:
 * `ready` resolves false and the unpacker reads the stored blob); an
 * unpacker claims the feed only once `ready` is true. The downloader
 * `push`es each chunk after handing it to the store writer (which hashes it). Until the unpacker `claim`s the feed, chunks are buffered up to a
 * limit; past it the feed is abandoned (the unpacker then reads the
 * committed blob from the store). Once claimed, the downloader waits while
 * more than the limit is buffered, so memory stays bounded. The feed ends
 * only when the downloader calls `end()` after the store verified the
 * digest (the writer's stage in the pull's commit batch), so an unpacker
 * never finishes on bytes that do not match; `fail(e)` errors the unpacker's stream with the download's error.
 */

/** One layer's in-flight bytes; see the module comment. */
export class LayerFeed {
  readonly #limit: number;
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  #claimed = false;
  #abandoned = false;
  #ended = false;
  #error: unknown;
  #wakeConsumer?: () => void;
  #wakeProducer?: () => void;
  readonly #ready: Promise<boolean>;
  #settleReady!: (fromStart: boolean) => void;

  /** A feed buffering at most `limit` bytes. */
  constructor(limit: number) {
    this.#limit = limit;
    this.#ready = new Promise((resolve) => { this.#settleReady = resolve; });
  }

  /** Resolves true once the download starts from the blob's first byte, false when the feed will not carry it whole. */
  get ready(): Promise<boolean> {
    return this.#ready;
  }

  /** The download fetches the blob from its first byte. */
  start(): void {
    this.#settleReady(!this.#abandoned);
  }

  /** Whether the unpacker can still take the bytes from here. */
  get usable(): boolean {
    return !this.#abandoned;
  }

  /** Stops teeing (a resumed download, a blob already stored, or too much buffered before the claim). */
  abandon(): void {
    if (this.#claimed) return;
    this.#abandoned = true;
    this.#chunks = [];
    this.#buffered = 0;
    this.#settleReady(false);
  }

  /** The unpacker gave up (or the pull failed): drop the bytes and never make the downloader wait again. */
  cancel(): void {
    this.#settleReady(false);
    this.#abandoned = true;
    this.#chunks = [];
    this.#buffered = 0;
    const w = this.#wakeProducer;
    this.#wakeProducer = undefined;
    w?.();
  }

  /** Adds a chunk; waits while a claimed feed holds more than the limit. */
  async push(chunk: Uint8Array): Promise<void> {
    if (this.#abandoned) return;
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    this.#wake();
    if (this.#buffered <= this.#limit) return;
    if (!this.#claimed) { this.abandon(); return; }
    while (this.#buffered > this.#limit && !this.#abandoned) await new Promise<void>((resolve) => { this.#wakeProducer = resolve; });
  }

  /** The download is committed and verified: the stream may end. */
  end(): void {
    this.#ended = true;
    this.#wake();
  }

  /** The download failed: the unpacker's stream errors with `e`. */
  fail(e: unknown): void {
    this.#settleReady(false);
    this.#error = e ?? new Error('download failed');
    this.#wake();
  }

  /** Takes the feed for the unpacker; false when it was abandoned. */
  claim(): boolean {
    if (this.#abandoned) return false;
    this.#claimed = true;
    return true;
  }

  /** The bytes, in order, from the start of the blob (after {@link claim}). */
  async *stream(): AsyncGenerator<Uint8Array> {
    try {
      for (;;) {
        if (this.#error !== undefined) throw this.#error;
        const c = this.#chunks.shift();
        if (c) {
          this.#buffered -= c.length;
          this.#wakeProducer?.();
          this.#wakeProducer = undefined;
          yield c;
          continue;
        }
        if (this.#ended) return;
        await new Promise<void>((resolve) => { this.#wakeConsumer = resolve; });
      }
    } finally {
      // The unpacker stopped (done or failed): never leave the downloader waiting.
      this.#abandoned = true;
      this.#chunks = [];
      this.#buffered = 0;
      this.#wakeProducer?.();
    }
  }

  #wake(): void {
    const w = this.#wakeConsumer;
    this.#wakeConsumer = undefined;
    w?.();
  }
}
