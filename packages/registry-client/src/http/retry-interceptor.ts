/**
 * The retry interceptor: replays a request after 429, 5xx, a reset
 * connection or a timeout, with exponential backoff and jitter, honouring
 * `Retry-After` (seconds or HTTP-date).
 *
 * Only failures before the response is handed downstream are retried here;
 * a body that breaks mid-way is resumed by the fetcher with `Range`, which
 * keeps hashing across the resume. Requests with a streaming body are not
 * replayable and are never retried.
 */
import type { Dispatcher } from 'undici';
import { publish, RegistryChannel } from '../diagnostics.js';
import { isReplayable } from './controller-proxy.js';
import { ReplayingHandler } from './replaying-handler.js';
import { backoffDelay, parseRetryAfter } from './retry-after.js';

/** How the retry interceptor retries. */
export interface RetryPolicy {
  /** Retries after the first attempt (default 4). */
  maxRetries: number;
  /** Backoff base in ms (default 200). */
  minDelayMs: number;
  /** Backoff cap in ms (default 10 000). */
  maxDelayMs: number;
  /** Longest Retry-After honoured; longer ones give up at once (default 60 000). */
  maxRetryAfterMs: number;
}

/** The default retry policy. */
export const defaultRetryPolicy: RetryPolicy = { maxRetries: 4, minDelayMs: 200, maxDelayMs: 10_000, maxRetryAfterMs: 60_000 };

const retryStatus: ReadonlySet<number> = new Set([429, 500, 502, 503, 504]);
const retryErrorCodes: ReadonlySet<string> = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH',
  'UND_ERR_SOCKET', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_CLOSED',
]);

/** Is this error one a retry may cure (reset, refused, timeouts)? */
export function isRetryableError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && retryErrorCodes.has(code);
}

/** Per-request override, set on dispatch options as `berthRetry`. */
export interface RetryDispatchOptions {
  /** Set false to disable retries for this request. */
  berthRetry?: boolean;
}

class RetryingHandler extends ReplayingHandler {
  #attempt = 0;
  #delay = 0;
  #reason = '';
  #timer: NodeJS.Timeout | null = null;
  // Errors after the response started belong to the body: the fetcher resumes those.
  #forwarded = false;

  constructor(
    readonly dispatch: Dispatcher.Dispatch,
    readonly opts: Dispatcher.DispatchOptions,
    handler: Dispatcher.DispatchHandler,
    readonly policy: RetryPolicy,
  ) {
    super(handler);
  }

  #url(): string { return `${String(this.opts.origin ?? '')}${this.opts.path}`; }

  #canRetry(): boolean {
    return this.#attempt < this.policy.maxRetries && isReplayable(this.opts.body) && !this.proxy.abortReason;
  }

  #schedule(delayMs: number, reason: string): void {
    this.#attempt++;
    publish(RegistryChannel.Retry, { method: this.opts.method, url: this.#url(), attempt: this.#attempt, delayMs, reason });
    this.proxy.onIdleAbort = (r) => {
      if (this.#timer) clearTimeout(this.#timer);
      this.#timer = null;
      this.fail(r);
    };
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.proxy.onIdleAbort = null;
      try {
        this.dispatch(this.opts, this);
      } catch (e) {
        this.fail(e as Error);
      }
    }, delayMs);
  }

  protected replay(): void {
    this.#schedule(this.#delay, this.#reason);
  }

  onRequestUpgrade(_c: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>, socket: import('node:stream').Duplex): void {
    this.handler.onRequestUpgrade?.(this.proxy, statusCode, headers, socket);
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>, statusMessage?: string): void {
    if (retryStatus.has(statusCode) && this.#canRetry()) {
      const after = parseRetryAfter(headers['retry-after']);
      if (after === undefined || after <= this.policy.maxRetryAfterMs) {
        this.swallow = true;
        this.#delay = after ?? backoffDelay(this.#attempt, this.policy.minDelayMs, this.policy.maxDelayMs);
        this.#reason = `status ${statusCode}`;
        return;
      }
    }
    this.proxy.target = controller;
    this.#forwarded = true;
    this.handler.onResponseStart?.(this.proxy, statusCode, headers, statusMessage);
  }

  onResponseError(_c: Dispatcher.DispatchController, err: Error): void {
    if (this.swallow) {
      // The error body of a retryable answer broke off: retry all the same.
      this.swallow = false;
      if (this.#canRetry()) return this.#schedule(this.#delay, this.#reason);
    } else if (!this.#forwarded && isRetryableError(err) && this.#canRetry()) {
      return this.#schedule(backoffDelay(this.#attempt, this.policy.minDelayMs, this.policy.maxDelayMs), (err as { code?: string }).code ?? err.message);
    }
    this.fail(err);
  }
}

/** Creates the retry interceptor (`dispatcher.compose(createRetryInterceptor(policy))`). */
export function createRetryInterceptor(policy: Partial<RetryPolicy> = {}): Dispatcher.DispatcherComposeInterceptor {
  const p: RetryPolicy = { ...defaultRetryPolicy, ...policy };
  return (dispatch) => function retryDispatch(opts, handler) {
    if ((opts as RetryDispatchOptions).berthRetry === false) return dispatch(opts, handler);
    const h = new RetryingHandler(dispatch, opts, handler, p);
    return dispatch(opts, h);
  };
}
