/**
 * The authorizer: decides the Authorization header for a registry request
 * (containerd `core/remotes/docker/authorizer.go`).
 *
 * - Anonymous until the registry challenges (a 401 on the ping or a request).
 * - `Basic` challenge: the host's username and password.
 * - `Bearer` challenge: a token from the realm for the request's scopes:
 *   `GET realm?service=…&scope=…` (with Basic credentials when there are some),
 *   or the OAuth2 form `POST realm` (`grant_type=refresh_token` for identity
 *   tokens, and as a fallback when the GET is refused). Tokens are cached per
 *   host, service and scope set until they expire; a 401 with a cached token
 *   drops it and fetches a new one.
 * - Scope widening: a request names every scope it needs
 *   (`repository:a:pull repository:b:pull,push` for a cross-repository mount)
 *   and the challenge's own scope is merged in.
 */
import { publish, RegistryChannel } from '../diagnostics.js';
import { errorFromResponse, RegistryProtocolError } from '../errors.js';
import { parseChallenges, type Challenge } from './challenge.js';
import type { Credentials, CredentialsProvider } from './credentials.js';

/** A minimal HTTP call the authorizer uses to reach token realms (no auth interceptor on it). */
export type RawRequest = (url: string, init: { method: 'GET' | 'POST'; headers: Record<string, string>; body?: string; signal?: AbortSignal }) =>
  Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }>;

interface CachedToken {
  header: string;
  expiresAt: number;
}

/** The scope a request on a repository needs: `repository:<name>:<actions>`. */
export function repositoryScope(name: string, actions: 'pull' | 'push' | 'pull,push' | 'delete' | '*'): string {
  return `repository:${name}:${actions}`;
}

/** Merges scopes: actions of the same resource are joined, the result sorted (a stable cache key). */
export function mergeScopes(scopes: Iterable<string>): string[] {
  const byResource = new Map<string, Set<string>>();
  for (const raw of scopes) {
    for (const s of raw.split(' ')) {
      if (!s) continue;
      const i = s.lastIndexOf(':');
      if (i <= 0) continue;
      const res = s.slice(0, i);
      const actions = byResource.get(res) ?? new Set<string>();
      for (const a of s.slice(i + 1).split(',')) if (a) actions.add(a);
      byResource.set(res, actions);
    }
  }
  return [...byResource.entries()].map(([r, a]) => `${r}:${[...a].sort().join(',')}`).sort();
}

/** Per-host authentication state and the token cache. */
export class Authorizer {
  readonly #credentials: CredentialsProvider | undefined;
  readonly #request: RawRequest;
  readonly #challenges = new Map<string, Challenge>();
  readonly #tokens = new Map<string, CachedToken>();
  readonly #inflight = new Map<string, Promise<CachedToken | undefined>>();
  readonly #clientId: string;

  constructor(credentials: CredentialsProvider | undefined, request: RawRequest, clientId = 'berth') {
    this.#credentials = credentials;
    this.#request = request;
    this.#clientId = clientId;
  }

  /** Records the challenge a host sent (from a ping or a 401). Bearer wins over Basic. */
  setChallenge(host: string, header: string | string[] | undefined): boolean {
    const chs = parseChallenges(header);
    const ch = chs.find((c) => c.scheme === 'bearer') ?? chs.find((c) => c.scheme === 'basic');
    if (!ch) return false;
    this.#challenges.set(host, ch);
    return true;
  }

  /** The scheme a host challenged with, if it did. */
  scheme(host: string): string | undefined {
    return this.#challenges.get(host)?.scheme;
  }

  /** The Authorization header for a request on `host` needing `scopes`, or undefined (anonymous). */
  async authorize(host: string, scopes: readonly string[], signal?: AbortSignal): Promise<string | undefined> {
    const ch = this.#challenges.get(host);
    if (!ch) return undefined;
    if (ch.scheme === 'basic') {
      const c = await this.#credentials?.(host);
      if (!c || !('password' in c)) return undefined;
      publish(RegistryChannel.Auth, { host, scheme: 'basic', scopes });
      return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
    }
    const merged = mergeScopes(scopes);
    const key = `${host}|${ch.params.service ?? ''}|${merged.join(' ')}`;
    const cached = this.#tokens.get(key);
    if (cached && cached.expiresAt > Date.now()) return cached.header;
    let p = this.#inflight.get(key);
    if (!p) {
      p = this.#fetchToken(host, ch, merged, signal).finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, p);
    }
    const t = await p;
    if (!t) return undefined;
    this.#tokens.set(key, t);
    return t.header;
  }

  /**
   * Handles a 401: records the new challenge and drops a cached token that
   * was refused. Says whether a retry can do better and which scope the
   * challenge asked for; the retry of that one request adds it to its scopes
   * (later requests are not widened by it).
   */
  unauthorized(host: string, wwwAuthenticate: string | string[] | undefined, sent: string | undefined): { retry: boolean; scope?: string } {
    const before = this.#challenges.get(host);
    if (!this.setChallenge(host, wwwAuthenticate)) return { retry: false };
    const ch = this.#challenges.get(host)!;
    if (sent) {
      for (const [k, t] of this.#tokens) if (t.header === sent) this.#tokens.delete(k);
      // Basic credentials refused: retrying them cannot help.
      if (ch.scheme === 'basic' && sent.startsWith('Basic ')) return { retry: false };
    }
    const retry = ch.scheme === 'bearer' || !before || before.scheme !== ch.scheme || !sent;
    return ch.params.scope ? { retry, scope: ch.params.scope } : { retry };
  }

  async #fetchToken(host: string, ch: Challenge, scopes: string[], signal?: AbortSignal): Promise<CachedToken | undefined> {
    const realm = ch.params.realm;
    if (!realm) throw new RegistryProtocolError(`"${host}" bearer challenge without realm`);
    const creds: Credentials | undefined = await this.#credentials?.(host);
    const service = ch.params.service;
    let res;
    if (creds && 'identityToken' in creds) {
      res = await this.#postToken(realm, service, scopes, { grant_type: 'refresh_token', refresh_token: creds.identityToken }, signal);
    } else {
      const u = new URL(realm);
      if (service) u.searchParams.set('service', service);
      for (const s of scopes) u.searchParams.append('scope', s);
      const headers: Record<string, string> = { accept: 'application/json' };
      if (creds) headers.authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
      res = await this.#request(u.toString(), { method: 'GET', headers, ...(signal ? { signal } : {}) });
      // Some token servers only speak the OAuth2 form (RFC 6749 §4.3): fall back to POST.
      if (creds && (res.status === 404 || res.status === 405 || res.status === 400)) {
        res = await this.#postToken(realm, service, scopes, { grant_type: 'password', username: creds.username, password: creds.password }, signal);
      }
    }
    if (res.status < 200 || res.status >= 300) {
      throw errorFromResponse(`token from "${realm}"`, res.status, res.body, { method: 'GET', url: realm });
    }
    let j: { token?: string; access_token?: string; expires_in?: number; issued_at?: string };
    try {
      j = JSON.parse(res.body.toString('utf8')) as typeof j;
    } catch (e) {
      throw new RegistryProtocolError(`token from "${realm}"`, { cause: e, status: res.status });
    }
    const token = j.token ?? j.access_token;
    if (!token) throw new RegistryProtocolError(`token from "${realm}" has no token`, { status: res.status });
    const expiresIn = (typeof j.expires_in === 'number' && j.expires_in > 0 ? j.expires_in : 60) * 1000;
    const issued = j.issued_at ? Date.parse(j.issued_at) : NaN;
    const start = Number.isNaN(issued) ? Date.now() : Math.min(issued, Date.now());
    // Renew a little early so a token does not expire between the check and its use.
    const expiresAt = start + expiresIn - Math.min(10_000, expiresIn / 2);
    publish(RegistryChannel.Auth, { host, scheme: 'bearer', scopes });
    return { header: `Bearer ${token}`, expiresAt };
  }

  async #postToken(realm: string, service: string | undefined, scopes: string[], grant: Record<string, string>, signal?: AbortSignal) {
    const form = new URLSearchParams({ ...grant, client_id: this.#clientId });
    if (service) form.set('service', service);
    if (scopes.length) form.set('scope', scopes.join(' '));
    return this.#request(realm, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: form.toString(),
      ...(signal ? { signal } : {}),
    });
  }
}
