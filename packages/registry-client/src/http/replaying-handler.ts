/**
 * The part the retry and auth interceptors' handlers share: each may swallow
 * an answer (a 429/5xx to retry, a 401 to answer with credentials) and send
 * the request again, while the downstream handler sees one request.
 */
import type { Dispatcher } from 'undici';
import { ControllerProxy } from './controller-proxy.js';

/**
 * A dispatch handler that can replay its request. The downstream gets one
 * stable {@link ControllerProxy} and one `onRequestStart`; while `swallow` is
 * set the answer's body is dropped, and at its end {@link replay} runs
 * instead of the downstream's `onResponseEnd`. Subclasses decide in
 * `onResponseStart` (and `onResponseError`) what to swallow.
 */
export abstract class ReplayingHandler implements Dispatcher.DispatchHandler {
  /** The controller the downstream holds across replays. */
  protected readonly proxy = new ControllerProxy();
  /** The current answer is swallowed: its body is dropped and its end replays. */
  protected swallow = false;
  /** The downstream has had its end or its error. */
  protected done = false;
  #started = false;

  constructor(readonly handler: Dispatcher.DispatchHandler) {}

  /** Sends the request again, once a swallowed answer has ended. */
  protected abstract replay(): void;

  /** Hands `err` downstream, once. */
  protected fail(err: Error): void {
    if (this.done) return;
    this.done = true;
    this.handler.onResponseError?.(this.proxy, err);
  }

  onRequestStart(controller: Dispatcher.DispatchController, context: unknown): void {
    this.proxy.target = controller;
    if (!this.#started) {
      this.#started = true;
      this.handler.onRequestStart?.(this.proxy, context);
    }
  }

  onResponseData(_c: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.swallow) this.handler.onResponseData?.(this.proxy, chunk);
  }

  onResponseEnd(_c: Dispatcher.DispatchController, trailers: Record<string, string | string[] | undefined>): void {
    if (this.swallow) {
      this.swallow = false;
      this.replay();
      return;
    }
    this.done = true;
    this.handler.onResponseEnd?.(this.proxy, trailers);
  }
}
