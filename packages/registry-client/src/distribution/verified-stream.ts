/**
 * The verified, resuming blob stream behind {@link Fetcher.fetch}.
 *
 * Bytes are hashed and counted as they flow. The last chunk is held back
 * until the digest checks, so a mismatch errors the stream before its end
 * and no consumer ever sees a complete-but-wrong blob. When the connection
 * drops or stalls, the request is sent again with `Range: bytes=N-` and
 * hashing continues where it stopped (a 200 answer to a Range request is
 * skipped up to N).
 */
import type { Hash } from 'node:crypto';
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
  maxResumes: number;
  minDelayMs: number;
  maxDelayMs: number;
  signal?: AbortSignal;
}

function parseContentRangeStart(v: string | undefined): number | undefined {
  const m = v && /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(v.trim());
  return m ? Number(m[1]) : undefined;
}

/** Opens the first response eagerly (so 404s throw from `fetch`), then streams with resume. */
export async function verifiedStream(desc: Descriptor, src: VerifiedStreamSource, opts: VerifiedStreamOptions): Promise<Readable> {
  const what = `blob "${desc.digest}"`;
  const verifyDigest = opts.offset === 0 || opts.hash !== undefined;
  const hash = opts.hash ?? (await import('node:crypto')).createHash(digestAlgorithm(desc.digest));
  let offset = opts.offset;
  let first: Answer;
  try {
    first = await open(offset);
  } catch (e) {
    src.release();
    throw e;
  }

  async function open(at: number): Promise<Answer> {
    const res = await src.get(at > 0 ? `bytes=${at}-` : undefined, opts.signal);
    if (res.status === 200 || res.status === 206) return res;
    const body = await drain(res.body);
    throw errorFromResponse(what, res.status, body, { method: 'GET', url: res.url });
  }

  async function* flow(): AsyncGenerator<Buffer> {
    let res: Answer | undefined = first;
    let resumes = 0;
    let held: Buffer | undefined;
    try {
      for (;;) {
        if (!res) res = await open(offset);
        // Where does this answer start? 206 says so; 200 starts at 0 and we skip what we have.
        let skip = 0;
        if (res.status === 206) {
          const start = parseContentRangeStart(header(res.headers, 'content-range'));
          if (start !== offset) {
            res.body.destroy();
            throw new RegistryProtocolError(`${what}: range answer starts at ${start}, asked ${offset}`, { status: 206 });
          }
        } else {
          skip = offset;
        }
        let failure: unknown;
        try {
          for await (const raw of res.body as AsyncIterable<Buffer>) {
            let chunk = raw;
            if (skip > 0) {
              if (chunk.length <= skip) { skip -= chunk.length; continue; }
              chunk = chunk.subarray(skip);
              skip = 0;
            }
            offset += chunk.length;
            if (offset > desc.size) throw new RegistrySizeMismatchError(desc.digest, desc.size, offset);
            hash.update(chunk);
            if (held) yield held;
            held = chunk;
          }
        } catch (e) {
          if (e instanceof RegistryError) throw e;
          failure = e;
        }
        res = undefined;
        if (failure === undefined && offset === desc.size) break;
        // A dropped, stalled or short body: resume from `offset`.
        const retryable = failure === undefined || isRetryableError(failure)
          || /other side closed|premature close|aborted/i.test(String((failure as Error).message));
        if (opts.signal?.aborted || !retryable || resumes >= opts.maxResumes) {
          if (failure === undefined) throw new RegistrySizeMismatchError(desc.digest, desc.size, offset);
          throw toRegistryError(failure, what, opts.signal);
        }
        resumes++;
        publish(RegistryChannel.Resume, {
          digest: desc.digest, offset, attempt: resumes,
          reason: failure === undefined ? 'short body' : String((failure as { code?: string }).code ?? (failure as Error).message),
        });
        await sleep(backoffDelay(resumes - 1, opts.minDelayMs, opts.maxDelayMs), undefined, opts.signal ? { signal: opts.signal } : {});
      }
      if (verifyDigest) {
        const actual = `${digestAlgorithm(desc.digest)}:${hash.digest('hex')}`;
        if (actual !== desc.digest) throw new RegistryDigestMismatchError(desc.digest, actual);
      }
      if (held) yield held;
    } catch (e) {
      throw toRegistryError(e, what, opts.signal);
    } finally {
      res?.body.destroy();
      src.release();
    }
  }

  return Readable.from(flow(), { objectMode: false, highWaterMark: 1 << 20 });
}
