// A Docker registry token server (https://distribution.github.io/distribution/spec/auth/token/)
// for tests: GET /token?service=S&scope=repository:a:pull,push&scope=repository:b:pull with
// optional Basic credentials (and the OAuth2 password grant as POST /token), answering with an
// RS256 JWT. distribution 2.8 (registry/auth/token/token.go, VerifySigningKey) accepts a signing
// key given as an `x5c` certificate chain in the JWT header that chains to a certificate in
// `auth.token.rootcertbundle`; our chain is the self-signed root itself.
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RegistryUser } from '../registry.js';

/** The default actions of a user on a repository. */
const ALL_ACTIONS = ['pull', 'push', 'delete', '*'];

/** Options of {@link startTokenServer}. */
export interface TokenServerOptions {
  /** Must match the registry's `auth.token.issuer`. */
  readonly issuer: string;
  /** Must match the registry's `auth.token.service` (the JWT audience). */
  readonly service: string;
  /** Signing certificate (PEM), also the registry's `rootcertbundle`. */
  readonly certPem: string;
  /** Its private key (PEM). */
  readonly keyPem: string;
  readonly users: readonly RegistryUser[];
  readonly anonymousPull: boolean;
}

/** A running token server. */
export interface TokenServer {
  /** The realm, `http://127.0.0.1:<port>/token`. */
  readonly realm: string;
  close(): Promise<void>;
}

interface Access { type: string; name: string; actions: string[] }

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

/** Parses `type:name:actions` scopes (the name may itself contain colons). */
export function parseScopes(scopes: readonly string[]): Access[] {
  const out: Access[] = [];
  for (const s of scopes.flatMap((x) => x.split(' ')).filter(Boolean)) {
    const first = s.indexOf(':');
    const last = s.lastIndexOf(':');
    if (first < 0 || last === first) continue;
    const type = s.slice(0, first).replace(/\(.*\)$/, '');
    out.push({ type, name: s.slice(first + 1, last), actions: s.slice(last + 1).split(',').filter(Boolean) });
  }
  return out;
}

/** Signs a JWT with RS256 and the certificate in `x5c`. */
function signJwt(claims: object, certPem: string, keyPem: string): string {
  const der = new crypto.X509Certificate(certPem).raw;
  const header = { typ: 'JWT', alg: 'RS256', x5c: [der.toString('base64')] };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  const sig = crypto.sign('sha256', Buffer.from(input), keyPem);
  return `${input}.${b64url(sig)}`;
}

function grant(user: RegistryUser | undefined, anonymousPull: boolean, requested: Access[]): Access[] {
  return requested.flatMap((r) => {
    let allowed: readonly string[];
    if (r.type === 'registry' && r.name === 'catalog') allowed = user ? ['*'] : [];
    else if (r.type !== 'repository') allowed = [];
    else if (!user) allowed = anonymousPull ? ['pull'] : [];
    else if (user.repositories && !user.repositories.includes(r.name)) allowed = [];
    else allowed = user.actions ?? ALL_ACTIONS;
    const actions = r.actions.filter((a) => allowed.includes(a));
    return actions.length ? [{ type: r.type, name: r.name, actions }] : [];
  });
}

/** Starts a token server on 127.0.0.1 on a free port. */
export async function startTokenServer(opts: TokenServerOptions): Promise<TokenServer> {
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => { body += d.toString(); });
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      if (url.pathname !== '/token') { res.writeHead(404).end(); return; }
      const params = req.method === 'POST' ? new URLSearchParams(body) : url.searchParams;
      let username: string | undefined;
      let password: string | undefined;
      const basic = /^Basic (.+)$/i.exec(req.headers.authorization ?? '');
      if (basic?.[1]) {
        const decoded = Buffer.from(basic[1], 'base64').toString();
        const i = decoded.indexOf(':');
        username = decoded.slice(0, i);
        password = decoded.slice(i + 1);
      } else if (req.method === 'POST' && params.get('grant_type') === 'password') {
        username = params.get('username') ?? undefined;
        password = params.get('password') ?? undefined;
      }
      let user: RegistryUser | undefined;
      if (username !== undefined) {
        user = opts.users.find((u) => u.username === username && u.password === password);
        if (!user) {
          res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Basic realm="berth test token server"' });
          res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'invalid username or password' }] }));
          return;
        }
      }
      const service = params.get('service') ?? opts.service;
      const now = Math.floor(Date.now() / 1000);
      const access = grant(user, opts.anonymousPull, parseScopes(params.getAll('scope')));
      const token = signJwt({
        iss: opts.issuer, sub: user?.username ?? '', aud: service, exp: now + 600, nbf: now - 30, iat: now,
        jti: crypto.randomUUID(), access,
      }, opts.certPem, opts.keyPem);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ token, access_token: token, expires_in: 600, issued_at: new Date(now * 1000).toISOString() }));
    });
  });
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(0, '127.0.0.1', resolve); });
  const { port } = server.address() as AddressInfo;
  let closed: Promise<void> | undefined;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    close: () => (closed ??= new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); })),
  };
}
