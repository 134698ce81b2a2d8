/** How a test registry authenticates clients. */
export type RegistryAuthMode = 'none' | 'basic' | 'token';

/** A user known to a test registry (htpasswd for `basic`, the token server for `token`). */
export interface RegistryUser {
  readonly username: string;
  readonly password: string;
  /**
   * Token auth only: actions granted on repositories (default `pull`, `push`, `delete`, `*`).
   * Requested actions outside this list are left out of the token, as real token servers do.
   */
  readonly actions?: readonly string[];
  /** Token auth only: repositories this user may access (default: all). */
  readonly repositories?: readonly string[];
}

/** Options of {@link startRegistry}. */
export interface StartRegistryOptions {
  /** `none` (default), `basic` (htpasswd, bcrypt) or `token` (bearer tokens from a local token server). */
  readonly auth?: RegistryAuthMode;
  /** Serve HTTPS with a certificate for 127.0.0.1, ::1 and localhost, signed by a fresh CA. */
  readonly tls?: boolean;
  /** Start with every fixture image pushed (default true). */
  readonly seed?: boolean;
  /** Users for `basic`/`token` auth; default: one user `berth` with a random password and full access. */
  readonly users?: readonly RegistryUser[];
  /** Token auth: anonymous clients get `pull` on every repository (default false: no access). */
  readonly anonymousPull?: boolean;
}

/** A running docker-registry on 127.0.0.1. */
export interface TestRegistry {
  /** `127.0.0.1:<port>`: what goes before `/repo:tag` in an image reference. */
  readonly host: string;
  /** `http://127.0.0.1:<port>` or `https://…` with TLS. */
  readonly url: string;
  /** The first configured user (basic and token auth). */
  readonly auth?: { readonly username: string; readonly password: string };
  /** All configured users. */
  readonly users: readonly RegistryUser[];
  /** With TLS: path of the CA certificate (PEM) that signed the server certificate. */
  readonly caPath?: string;
  /** With TLS: that CA certificate, PEM text. */
  readonly caPem?: string;
  /** With token auth: the token endpoint (`http://127.0.0.1:<port>/token`). */
  readonly tokenRealm?: string;
  /** With token auth: the `service` the registry expects in tokens. */
  readonly tokenService?: string;
  /** The registry's `storage.filesystem.rootdirectory`. */
  readonly storageDir: string;
  /** Log file of the registry process. */
  readonly logPath: string;
  /** Stops the registry (and token server) and removes its temp dir; idempotent. */
  close(): Promise<void>;
}
