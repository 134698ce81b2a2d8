/**
 * The client's HTTP plumbing: the undici dispatcher with auth, retry and
 * redirect interceptors composed on it, scheme probing per host, and the
 * mapping of transport failures to typed errors.
 */
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { Agent, Pool, interceptors, type Dispatcher } from 'undici';
import { Authorizer, type RawRequest } from '../auth/authorizer.js';
import type { CredentialsProvider } from '../auth/credentials.js';
import { publish, RegistryChannel } from '../diagnostics.js';
import {
  RegistryCancelledError, RegistryError, RegistryInsecureNotAllowedError, RegistryTimeoutError, RegistryTooLargeError,
  RegistryUnavailableError,
} from '../errors.js';
import { createAuthInterceptor, type AuthDispatchOptions } from '../http/auth-interceptor.js';
import { createRetryInterceptor, defaultRetryPolicy, type RetryDispatchOptions, type RetryPolicy } from '../http/retry-interceptor.js';
import { apiHost, isLoopbackHost, type HostConfig } from './hosts.js';

/** Transport options shared by the client's parts. */
export interface TransportOptions {
  /** An undici Dispatcher to build on (interceptors are composed on it; it is not closed by the client). */
  dispatcher?: Dispatcher;
  /** Where credentials come from, per registry host. */
  credentials?: CredentialsProvider;
  /** Per-host mirrors, scheme, CA and insecure flag. */
  hosts?: Record<string, HostConfig>;
  /** Hosts allowed plain HTTP and unverified TLS (beyond loopback). */
  insecureHosts?: string[];
  /** Extra CA certificates (PEM) trusted for every host, added to Node's roots. */
  ca?: string | Buffer;
  /** Connect and headers timeout in ms (default 30 000). */
  timeoutMs?: number;
  /** No body bytes for this long aborts and resumes the transfer (default 30 000). */
  stallTimeoutMs?: number;
  /** Retry policy overrides. */
  retry?: Partial<RetryPolicy>;
  /** The User-Agent header. */
  userAgent?: string;
  /** Keep-alive connections per origin (default 16). */
  connectionsPerHost?: number;
}

/** An answered request with its body still to read. */
export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Dispatcher.ResponseData['body'];
  url: string;
}

/** One request the client makes to a registry. */
export interface RegistryRequest {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path and query (`/v2/…`), or an absolute URL (an upload Location). */
  path: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  scopes: string[];
  signal?: AbortSignal;
  /** Override the stall (body) timeout. */
  bodyTimeoutMs?: number;
  retry?: boolean;
  /** Send no Authorization (an upload Location on another origin, as containerd strips its authorizer). */
  anonymous?: boolean;
}

let envCa: { file: string; pem: Buffer[] } | undefined;
/** The certificates of the file NODE_EXTRA_CA_CERTS names (read once per file; none when unset or unreadable, as Node ignores it then). */
function envExtraCa(): Buffer[] {
  const file = process.env.NODE_EXTRA_CA_CERTS;
  if (!file) return [];
  if (envCa?.file !== file) {
    let pem: Buffer[] = [];
    try { pem = [readFileSync(file)]; } catch { /* Node warns at start-up and goes on without it */ }
    envCa = { file, pem };
  }
  return envCa.pem;
}

const tlsErrorRe = /^(EPROTO|ERR_SSL_|ECONNRESET|UND_ERR_SOCKET|ERR_TLS_)/;

/** Wraps an unknown failure as a typed registry error. */
export function toRegistryError(e: unknown, what: string, signal?: AbortSignal): RegistryError {
  if (e instanceof RegistryError) return e;
  const code = (e as { code?: unknown } | null)?.code;
  const name = (e as { name?: unknown } | null)?.name;
  if (signal?.aborted || name === 'AbortError' || code === 'UND_ERR_ABORTED' || code === 'ABORT_ERR') {
    return new RegistryCancelledError(what, { cause: e });
  }
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ETIMEDOUT') {
    return new RegistryTimeoutError(what, { cause: e, details: { errnoCode: code } });
  }
  return new RegistryUnavailableError(what, { cause: e, ...(typeof code === 'string' ? { details: { errnoCode: code } } : {}) });
}

/** Reads a whole body, failing with ERR_REGISTRY_TOO_LARGE past `limit` bytes. */
export async function readLimited(body: AsyncIterable<Buffer>, limit: number, what: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of body) {
    n += c.length;
    if (n > limit) {
      (body as { destroy?: () => void }).destroy?.();
      throw new RegistryTooLargeError(what, limit);
    }
    parts.push(c);
  }
  return Buffer.concat(parts, n);
}

/** Drains and discards a body (keeps the connection reusable). */
export async function drain(body: Dispatcher.ResponseData['body']): Promise<Buffer> {
  try {
    return await readLimited(body, 1 << 20, 'error body');
  } catch {
    body.destroy();
    return Buffer.alloc(0);
  }
}

/** The first value of a header. */
export function header(h: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * The transport: one composed dispatcher per client, the authorizer, and
 * settled origins per host.
 */
export class Transport {
  /** The base dispatcher with retry → auth → redirect interceptors composed on it. */
  readonly dispatcher: Dispatcher;
  /** The base dispatcher with retry and redirect only (token realms). */
  readonly raw: Dispatcher;
  /** Challenges, credentials and the token cache. */
  readonly authorizer: Authorizer;
  /** Per-host configuration. */
  readonly hosts: Record<string, HostConfig>;
  /** Connect and headers timeout. */
  readonly timeoutMs: number;
  /** Body (stall) timeout. */
  readonly stallTimeoutMs: number;
  readonly #insecure: Set<string>;
  readonly #origins = new Map<string, Promise<string>>();
  readonly #ownDispatcher: Dispatcher | undefined;
  readonly #userAgent: string;
  #closed = false;

  constructor(options: TransportOptions) {
    this.hosts = options.hosts ?? {};
    this.#insecure = new Set(options.insecureHosts ?? []);
    for (const [h, c] of Object.entries(this.hosts)) if (c.insecure) this.#insecure.add(h);
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.stallTimeoutMs = options.stallTimeoutMs ?? 30_000;
    this.#userAgent = options.userAgent ?? 'berth-registry-client/0.1';
    let base = options.dispatcher;
    if (!base) {
      const globalCa = options.ca;
      const connections = options.connectionsPerHost ?? 16;
      base = this.#ownDispatcher = new Agent({
        keepAliveTimeout: 30_000,
        connections,
        connectTimeout: this.timeoutMs,
        factory: (origin, opts) => {
          const u = new URL(origin);
          const cfg = this.hosts[u.host];
          const ca = [globalCa, cfg?.ca].filter((x): x is string | Buffer => x !== undefined);
          const insecure = this.#insecure.has(u.host);
          return new Pool(origin, {
            ...opts,
            connect: {
              timeout: this.timeoutMs,
              // Extra CAs add to Node's default roots instead of replacing them: the bundled ones and those of
              // NODE_EXTRA_CA_CERTS, which Node adds to its default store only (a `ca` option replaces that store).
              ...(ca.length ? { ca: [...tls.rootCertificates, ...envExtraCa(), ...ca] } : {}),
              ...(insecure ? { rejectUnauthorized: false } : {}),
            },
          });
        },
      });
    }
    this.raw = base.compose(interceptors.redirect({ maxRedirections: 5 }), createRetryInterceptor({ ...defaultRetryPolicy, ...options.retry }));
    const rawRequest: RawRequest = async (url, init) => {
      const u = new URL(url);
      const res = await this.raw.request({
        origin: u.origin, path: `${u.pathname}${u.search}`, method: init.method,
        headers: { 'user-agent': this.#userAgent, ...init.headers }, body: init.body ?? null,
        headersTimeout: this.timeoutMs, bodyTimeout: this.timeoutMs, signal: init.signal ?? null,
      }).catch((e: unknown) => { throw toRegistryError(e, `token from "${u.origin}${u.pathname}"`, init.signal); });
      return { status: res.statusCode, headers: res.headers, body: await readLimited(res.body, 1 << 20, 'token response') };
    };
    this.authorizer = new Authorizer(options.credentials, rawRequest);
    // Order: retry (outermost) → auth → redirect → base. compose applies the last one outermost.
    this.dispatcher = base.compose(
      interceptors.redirect({ maxRedirections: 5 }),
      createAuthInterceptor(this.authorizer),
      createRetryInterceptor({ ...defaultRetryPolicy, ...options.retry }),
    );
  }

  /** Is plain HTTP allowed for this host? */
  httpAllowed(host: string): boolean {
    return isLoopbackHost(host) || this.#insecure.has(host);
  }

  /** The origin (`https://host`) a registry host is reached at, settled once by a `/v2/` ping. */
  origin(host: string, signal?: AbortSignal): Promise<string> {
    let p = this.#origins.get(host);
    if (!p) {
      p = this.#settle(host, signal);
      this.#origins.set(host, p);
      p.catch(() => this.#origins.delete(host));
    }
    return p;
  }

  async #ping(origin: string, host: string, retry: boolean, signal?: AbortSignal): Promise<void> {
    const res = await this.dispatcher.request({
      origin, path: '/v2/', method: 'GET', headers: { 'user-agent': this.#userAgent },
      headersTimeout: this.timeoutMs, bodyTimeout: this.timeoutMs, signal: signal ?? null,
      berthRetry: retry,
    } as Dispatcher.RequestOptions & RetryDispatchOptions);
    await drain(res.body);
    // A 401 carries the challenge: record it so the first real request is authenticated.
    if (res.statusCode === 401) this.authorizer.setChallenge(host, res.headers['www-authenticate']);
  }

  async #settle(host: string, signal?: AbortSignal): Promise<string> {
    const target = apiHost(host);
    const forced = this.hosts[host]?.scheme;
    const allowHttp = this.httpAllowed(host);
    if (forced === 'http' && !allowHttp) throw new RegistryInsecureNotAllowedError(host);
    const https = `https://${target}`;
    const http = `http://${target}`;
    let origin = forced === 'http' ? http : https;
    try {
      await this.#ping(origin, host, !(allowHttp && forced === undefined), signal);
    } catch (e) {
      const code = String((e as { code?: unknown }).code ?? '');
      if (forced !== undefined || !allowHttp || !(tlsErrorRe.test(code) || code.startsWith('UND_ERR'))) {
        throw toRegistryError(e, `ping "${host}"`, signal);
      }
      // containerd's HTTP fallback: a loopback or allowed-insecure host that does not speak TLS.
      origin = http;
      try {
        await this.#ping(origin, host, true, signal);
      } catch (e2) {
        throw toRegistryError(e2, `ping "${host}"`, signal);
      }
    }
    publish(RegistryChannel.Host, { host, origin });
    return origin;
  }

  /** Sends a request to a registry host; resolves once headers are in. */
  async request(host: string, req: RegistryRequest): Promise<Answer> {
    const base = await this.origin(host, req.signal);
    const u = new URL(req.path, base);
    const url = u.toString();
    if (u.protocol === 'http:' && !this.httpAllowed(u.host) && !this.httpAllowed(host)) {
      throw new RegistryInsecureNotAllowedError(u.host);
    }
    try {
      const res = await this.dispatcher.request({
        origin: u.origin,
        path: `${u.pathname}${u.search}`,
        method: req.method,
        headers: { 'user-agent': this.#userAgent, ...req.headers },
        body: req.body ?? null,
        signal: req.signal ?? null,
        headersTimeout: this.timeoutMs,
        bodyTimeout: req.bodyTimeoutMs ?? this.stallTimeoutMs,
        highWaterMark: 1 << 20,
        ...(req.anonymous ? {} : { berthAuth: { host, scopes: req.scopes, ...(req.signal ? { signal: req.signal } : {}) } }),
        ...(req.retry === false ? { berthRetry: false } : {}),
      } as Dispatcher.RequestOptions & AuthDispatchOptions & RetryDispatchOptions);
      publish(RegistryChannel.Request, { method: req.method, url, status: res.statusCode });
      return { status: res.statusCode, headers: res.headers, body: res.body, url };
    } catch (e) {
      throw toRegistryError(e, `${req.method} ${url}`, req.signal);
    }
  }

  /** Closes the dispatcher the transport created (an injected one is left open). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#ownDispatcher?.close();
  }
}
