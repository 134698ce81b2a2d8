/**
 * A stable controller handed downstream while an interceptor replays a
 * request (after a retry wait or a 401). Each dispatch has its own connection
 * controller; the proxy forwards to the current one and remembers a
 * downstream abort that happens between dispatches (the pattern of undici's
 * `lib/handler/retry-handler.js`).
 */
import type { Dispatcher } from 'undici';

/** A forwarding controller that survives re-dispatch. */
export class ControllerProxy implements Dispatcher.DispatchController {
  #target: Dispatcher.DispatchController | null = null;
  #paused = false;
  #abortReason: Error | null = null;
  /** Called when the downstream aborts while no dispatch is in flight. */
  onIdleAbort: ((reason: Error) => void) | null = null;
  rawHeaders?: Buffer[] | string[] | Record<string, string | string[] | undefined> | null;
  rawTrailers?: Buffer[] | string[] | Record<string, string | string[] | undefined> | null;

  set target(t: Dispatcher.DispatchController | null) {
    this.#target = t;
    if (t && this.#paused) t.pause();
  }

  get target(): Dispatcher.DispatchController | null { return this.#target; }

  /** The reason the downstream aborted, if it did. */
  get abortReason(): Error | null { return this.#abortReason; }
  get aborted(): boolean { return this.#abortReason !== null || (this.#target?.aborted ?? false); }
  get paused(): boolean { return this.#paused; }
  get reason(): Error | null { return this.#abortReason ?? this.#target?.reason ?? null; }

  abort(reason: Error): void {
    if (this.#abortReason) return;
    this.#abortReason = reason;
    if (this.onIdleAbort) this.onIdleAbort(reason);
    else this.#target?.abort(reason);
  }

  pause(): void { this.#paused = true; this.#target?.pause(); }
  resume(): void { this.#paused = false; this.#target?.resume(); }
}

/** Can this request body be sent again (no body, a string or bytes)? */
export function isReplayable(body: unknown): boolean {
  return body == null || typeof body === 'string' || body instanceof Uint8Array;
}
