/**
 * The verified, resuming blob stream behind {@link Fetcher.fetch}.
 *
 * Bytes are hashed and counted as they flow. The last chunk is held back
 * until the digest checks, so a mismatch errors the stream before its end
 * and no consumer ever sees a complete-but-wrong blob. When the connection
 * drops or stalls, the request is sent again with `Range: bytes=N-` and
 * hashing continues where it stopped (a 200 answer to a Range request is
 * skipped up to N). With `verify: false` only the size is checked and
 * nothing is hashed (the caller verifies).
 *
 * Push-based: body chunks are handed on as they arrive (no re-buffering or
 * concatenation), and backpressure pauses the HTTP body.
 */
import { createHash, type Hash } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { publish, RegistryChannel } from '../diagnostics.js';
import {
  errorFromResponse, RegistryDigestMismatchError, RegistryError, RegistryProtocolError, RegistrySizeMismatchError,
} from '../errors.js';
import { backoffDelay } from '../http/retry-after.js';
import { isRetryableError } from '../http/retry-interceptor.js';
import { digestAlgorithm, type Descriptor } from '../internal/oci.js';
import { drain, header, toRegistryError, type Answer } from './http.js';

/** What the verified stream needs from the client. */
export interface VerifiedStreamSource {
  /** Sends the GET (with an optional Range header). */
  get(range: string | undefined, signal?: AbortSignal): Promise<Answer>;
  /** Releases the concurrency slot. */
  release(): void;
}

/** Options of {@link verifiedStream}. */
export interface VerifiedStreamOptions {
  offset: number;
  hash: Hash | undefined;
  /** false: no digest check (the size still is); the bytes are not hashed. */
  verify: boolean;
  maxResumes: number;
  minDelayMs: number;
  maxDelayMs: number;
  signal?: AbortSignal;
}

function parseContentRangeStart(v: string | undefined): number | undefined {
  const m = v && /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(v.trim());
  return m ? Number(m[1]) : undefined;
}

class VerifiedReadable extends Readable {
  readonly #desc: Descriptor;
  readonly #src: VerifiedStreamSource;
  readonly #opts: VerifiedStreamOptions;
  readonly #hash: Hash | undefined;
  readonly #verifyDigest: boolean;
  readonly #what: string;
  #offset: number;
  #held: Buffer | undefined;
  #body: Answer['body'] | undefined;
  #skip = 0;
  #resumes = 0;
  #finished = false;

  constructor(desc: Descriptor, src: VerifiedStreamSource, opts: VerifiedStreamOptions, first: Answer) {
    super({ highWaterMark: 1 << 20 });
    this.#desc = desc;
    this.#src = src;
    this.#opts = opts;
    this.#offset = opts.offset;
    this.#verifyDigest = opts.verify && (opts.offset === 0 || opts.hash !== undefined);
    this.#hash = this.#verifyDigest ? opts.hash ?? createHash(digestAlgorithm(desc.digest)) : undefined;
    this.#what = `blob "${desc.digest}"`;
    this.#attach(first);
  }

  #attach(res: Answer): void {
    // Where does this answer start? 206 says so; 200 starts at 0 and we skip what we have.
    this.#skip = 0;
    if (res.status === 206) {
      const start = parseContentRangeStart(header(res.headers, 'content-range'));
      if (start !== this.#offset) {
        res.body.destroy();
        this.#fail(new RegistryProtocolError(`${this.#what}: range answer starts at ${start}, asked ${this.#offset}`, { status: 206 }));
        return;
      }
    } else {
      this.#skip = this.#offset;
    }
    const body = res.body;
    this.#body = body;
    body.on('data', (c: Buffer) => this.#onData(c));
    body.once('end', () => { if (this.#body === body) this.#onBodyDone(undefined); });
    body.once('error', (e: Error) => { if (this.#body === body) this.#onBodyDone(e); });
  }

  #onData(raw: Buffer): void {
    if (this.#finished) return;
    let chunk = raw;
    if (this.#skip > 0) {
      if (chunk.length <= this.#skip) { this.#skip -= chunk.length; return; }
      chunk = chunk.subarray(this.#skip);
      this.#skip = 0;
    }
    this.#offset += chunk.length;
    if (this.#offset > this.#desc.size) {
      this.#fail(new RegistrySizeMismatchError(this.#desc.digest, this.#desc.size, this.#offset));
      return;
    }
    this.#hash?.update(chunk);
    const prev = this.#held;
    this.#held = chunk;
    if (prev && !this.push(prev)) this.#body?.pause();
  }

  override _read(): void {
    this.#body?.resume();
  }

  #onBodyDone(err: Error | undefined): void {
    if (this.#finished) return;
    this.#body = undefined;
    if (err === undefined && this.#offset === this.#desc.size) {
      this.#complete();
      return;
    }
    if (err instanceof RegistryError) { this.#fail(err); return; }
    // A dropped, stalled or short body: resume from the offset.
    const retryable = err === undefined || isRetryableError(err) || /other side closed|premature close|aborted/i.test(err.message);
    if (this.#opts.signal?.aborted || !retryable || this.#resumes >= this.#opts.maxResumes) {
      this.#fail(err === undefined
        ? new RegistrySizeMismatchError(this.#desc.digest, this.#desc.size, this.#offset)
        : toRegistryError(err, this.#what, this.#opts.signal));
      return;
    }
    this.#resumes++;
    publish(RegistryChannel.Resume, {
      digest: this.#desc.digest, offset: this.#offset, attempt: this.#resumes,
      reason: err === undefined ? 'short body' : String((err as { code?: string }).code ?? err.message),
    });
    void this.#reopen();
  }

  async #reopen(): Promise<void> {
    try {
      await sleep(backoffDelay(this.#resumes - 1, this.#opts.minDelayMs, this.#opts.maxDelayMs), undefined,
        this.#opts.signal ? { signal: this.#opts.signal } : {});
      const res = await openAnswer(this.#src, this.#what, this.#offset, this.#opts.signal);
      if (this.#finished) { res.body.destroy(); return; }
      this.#attach(res);
    } catch (e) {
      this.#fail(toRegistryError(e, this.#what, this.#opts.signal));
    }
  }

  #complete(): void {
    if (this.#hash) {
      const actual = `${digestAlgorithm(this.#desc.digest)}:${this.#hash.digest('hex')}`;
      if (actual !== this.#desc.digest) {
        this.#fail(new RegistryDigestMismatchError(this.#desc.digest, actual));
        return;
      }
    }
    this.#finished = true;
    this.#src.release();
    if (this.#held) this.push(this.#held);
    this.#held = undefined;
    this.push(null);
  }

  #fail(err: Error): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#held = undefined;
    this.#body?.destroy();
    this.#body = undefined;
    this.#src.release();
    this.destroy(err);
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    if (!this.#finished) {
      this.#finished = true;
      this.#body?.destroy();
      this.#body = undefined;
      this.#src.release();
    }
    cb(err);
  }
}

async function openAnswer(src: VerifiedStreamSource, what: string, at: number, signal?: AbortSignal): Promise<Answer> {
  const res = await src.get(at > 0 ? `bytes=${at}-` : undefined, signal);
  if (res.status === 200 || res.status === 206) return res;
  const body = await drain(res.body);
  throw errorFromResponse(what, res.status, body, { method: 'GET', url: res.url });
}

/**
 * Opens the first response eagerly (so a 404 throws from `fetch`), then streams with resume.
 * Once the stream exists it owns `src.release` and calls it exactly when it ends, fails or is destroyed.
 */
export async function verifiedStream(desc: Descriptor, src: VerifiedStreamSource, opts: VerifiedStreamOptions): Promise<Readable> {
  // On failure here the caller still holds the slot (it may try a mirror next).
  const first = await openAnswer(src, `blob "${desc.digest}"`, opts.offset, opts.signal);
  return new VerifiedReadable(desc, src, opts, first);
}
