/**
 * Registry credentials: from code, or from the Docker CLI's config file
 * (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`): `auths` with a
 * base64 `auth` or an `identitytoken`, and `credsStore` / `credHelpers` through
 * the `docker-credential-<name> get` protocol (docker-credential-helpers:
 * the server URL on stdin, `{"ServerURL","Username","Secret"}` on stdout;
 * a Username of `<token>` means Secret is an identity token).
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { RegistryCredentialsError } from '../errors.js';

/** Credentials for one registry host. */
export type Credentials =
  | { username: string; password: string }
  | { identityToken: string; username?: string };

/** Looks up credentials for a registry host (`127.0.0.1:5000`, `docker.io`). */
export type CredentialsProvider = (host: string) => Promise<Credentials | undefined>;

/** Credentials given in code, per host. */
export function staticCredentials(byHost: Record<string, Credentials>): CredentialsProvider {
  return async (host) => byHost[host];
}

interface DockerConfigFile {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
}

/** Options of {@link dockerConfigCredentials}. */
export interface DockerConfigOptions {
  /** The config directory; default `$DOCKER_CONFIG`, else `~/.docker`. */
  configDir?: string;
  /** Environment for credential helpers (PATH is where they are looked up); default `process.env`. */
  env?: NodeJS.ProcessEnv;
}

/** The keys a host may be stored under in `auths` (Docker Hub has its legacy URL). */
function configKeys(host: string): string[] {
  if (host === 'docker.io' || host === 'registry-1.docker.io' || host === 'index.docker.io') {
    return ['https://index.docker.io/v1/', 'index.docker.io', 'docker.io', 'registry-1.docker.io'];
  }
  return [host, `https://${host}`, `http://${host}`, `https://${host}/`, `http://${host}/`];
}

/** Runs `docker-credential-<helper> get` with the server URL on stdin. */
export async function runCredentialHelper(helper: string, serverUrl: string, env: NodeJS.ProcessEnv = process.env): Promise<Credentials | undefined> {
  const bin = `docker-credential-${helper}`;
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(bin, ['get'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { err += d; });
    child.on('error', (e) => reject(new RegistryCredentialsError(bin, { cause: e })));
    child.on('close', (c) => resolve({ code: c, stdout: out, stderr: err }));
    child.stdin.end(serverUrl);
  });
  if (code !== 0) {
    // The protocol's "not found" answer is not an error: the host simply has no credentials.
    if (/credentials not found/i.test(stdout + stderr)) return undefined;
    throw new RegistryCredentialsError(bin, { details: { exitCode: code, stderr: stderr.trim() || stdout.trim() } });
  }
  let j: { Username?: string; Secret?: string };
  try {
    j = JSON.parse(stdout) as typeof j;
  } catch (e) {
    throw new RegistryCredentialsError(bin, { cause: e });
  }
  if (!j.Secret) return undefined;
  if (j.Username === '<token>') return { identityToken: j.Secret };
  return { username: j.Username ?? '', password: j.Secret };
}

/**
 * Credentials from the Docker CLI config, read on each lookup (so a login
 * while the client lives is seen). Order, as the Docker CLI: `credHelpers`
 * for the host, then `credsStore`, then `auths`.
 */
export function dockerConfigCredentials(options: DockerConfigOptions = {}): CredentialsProvider {
  return async (host) => {
    const env = options.env ?? process.env;
    const dir = options.configDir ?? env.DOCKER_CONFIG ?? path.join(os.homedir(), '.docker');
    const file = path.join(dir, 'config.json');
    let cfg: DockerConfigFile;
    try {
      cfg = JSON.parse(await readFile(file, 'utf8')) as DockerConfigFile;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new RegistryCredentialsError(file, { cause: e });
    }
    const keys = configKeys(host);
    const helper = keys.map((k) => cfg.credHelpers?.[k]).find((h) => h) ?? cfg.credsStore;
    if (helper) {
      const serverUrl = host === 'docker.io' ? 'https://index.docker.io/v1/' : host;
      const c = await runCredentialHelper(helper, serverUrl, env);
      if (c) return c;
    }
    for (const k of keys) {
      const a = cfg.auths?.[k];
      if (!a) continue;
      if (a.identitytoken) return { identityToken: a.identitytoken, ...(a.username ? { username: a.username } : {}) };
      if (a.auth) {
        const dec = Buffer.from(a.auth, 'base64').toString('utf8');
        const colon = dec.indexOf(':');
        if (colon < 0) throw new RegistryCredentialsError(`${file}: auths["${k}"]`, { details: { reason: 'auth is not base64 user:password' } });
        return { username: dec.slice(0, colon), password: dec.slice(colon + 1) };
      }
      if (a.username !== undefined && a.password !== undefined) return { username: a.username, password: a.password };
    }
    return undefined;
  };
}

/** Tries providers in order; the first that has credentials wins. */
export function chainCredentials(...providers: CredentialsProvider[]): CredentialsProvider {
  return async (host) => {
    for (const p of providers) {
      const c = await p(host);
      if (c) return c;
    }
    return undefined;
  };
}
