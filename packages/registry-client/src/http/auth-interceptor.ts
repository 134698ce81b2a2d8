/**
 * The auth interceptor: adds the Authorization header the {@link Authorizer}
 * decides for a registry request, and on a 401 records the challenge, drops
 * a refused token and replays the request once with fresh credentials.
 *
 * Requests name their registry host and scopes in the dispatch option
 * `berthAuth`; requests without it (token realms, redirect targets) pass
 * through untouched. Sits outside the redirect interceptor, so a redirect to
 * another host never carries the registry's Authorization (undici's
 * redirect handler drops it on a cross-origin hop).
 */
import type { Dispatcher } from 'undici';
import type { Authorizer } from '../auth/authorizer.js';
import { isReplayable } from './controller-proxy.js';
import { ReplayingHandler } from './replaying-handler.js';

/** Dispatch option naming the registry host and the scopes a request needs. */
export interface AuthDispatchOptions {
  berthAuth?: { host: string; scopes: string[]; signal?: AbortSignal };
}

type Headers = Record<string, string | string[] | undefined>;

function withAuthorization(headers: Dispatcher.DispatchOptions['headers'], value: string | undefined): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  if (Array.isArray(headers)) {
    for (let i = 0; i + 1 < headers.length; i += 2) out[String(headers[i]).toLowerCase()] = String(headers[i + 1]);
  } else if (headers && typeof headers === 'object') {
    for (const [k, v] of Object.entries(headers as Headers)) if (v !== undefined) out[k.toLowerCase()] = v;
  }
  if (value) out.authorization = value;
  return out;
}

class AuthHandler extends ReplayingHandler {
  #attempt = 0;
  #sent: string | undefined;
  #extraScopes: string[] = [];

  constructor(
    readonly dispatch: Dispatcher.Dispatch,
    readonly opts: Dispatcher.DispatchOptions & AuthDispatchOptions,
    handler: Dispatcher.DispatchHandler,
    readonly authorizer: Authorizer,
  ) {
    super(handler);
  }

  run(): void {
    const { host, scopes, signal } = this.opts.berthAuth!;
    this.proxy.onIdleAbort = (r) => this.fail(r);
    this.authorizer.authorize(host, [...scopes, ...this.#extraScopes], signal).then((header) => {
      if (this.done) return;
      this.proxy.onIdleAbort = null;
      this.#sent = header;
      this.dispatch({ ...this.opts, headers: withAuthorization(this.opts.headers, header) }, this);
    }, (err: Error) => this.fail(err));
  }

  protected replay(): void {
    this.#attempt++;
    this.run();
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: Headers, statusMessage?: string): void {
    if (statusCode === 401 && this.#attempt < 2 && isReplayable(this.opts.body)) {
      const { retry, scope } = this.authorizer.unauthorized(this.opts.berthAuth!.host, headers['www-authenticate'], this.#sent);
      if (retry) {
        if (scope) this.#extraScopes.push(scope);
        this.swallow = true;
        return;
      }
    }
    this.proxy.target = controller;
    this.handler.onResponseStart?.(this.proxy, statusCode, headers, statusMessage);
  }

  onResponseError(_c: Dispatcher.DispatchController, err: Error): void {
    this.fail(err);
  }
}

/** Creates the auth interceptor over an {@link Authorizer}. */
export function createAuthInterceptor(authorizer: Authorizer): Dispatcher.DispatcherComposeInterceptor {
  return (dispatch) => function authDispatch(opts, handler) {
    const o = opts as Dispatcher.DispatchOptions & AuthDispatchOptions;
    if (!o.berthAuth) return dispatch(opts, handler);
    new AuthHandler(dispatch, o, handler, authorizer).run();
    return true;
  };
}
