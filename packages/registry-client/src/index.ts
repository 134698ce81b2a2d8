/**
 * @berth/registry-client: an OCI distribution client on undici.
 *
 * Resolver / Fetcher / Pusher over the distribution API, with auth
 * (anonymous, Basic, Bearer tokens), retries and redirects composed as undici
 * interceptors on an injectable Dispatcher. Imports only @berth/oci-spec and
 * knows nothing of the content store: the engine composes pull and push.
 * See README.md for its place in the package graph.
 */
export type {
  CallOptions, CommitOptions, FetchedManifest, FetchManifestOptions, Fetcher, FetchOptions, ListOptions, PushOptions,
  PushOutcome, Pusher, PushWriter, ReferrersOptions, Resolved, ResolveOptions, Resolver,
} from './resolver.js';
export {
  createRegistryClient, manifestAccept, nextLink, RegistryClient, RegistryFetcher, RegistryPusher,
  type RegistryClientOptions,
} from './distribution/registry-client.js';
export { apiHost, dockerHubRegistryHost, isLoopbackHost, type HostConfig } from './distribution/hosts.js';
export { Authorizer, mergeScopes, repositoryScope, type RawRequest } from './auth/authorizer.js';
export { parseChallenges, type Challenge } from './auth/challenge.js';
export {
  chainCredentials, dockerConfigCredentials, runCredentialHelper, staticCredentials,
  type Credentials, type CredentialsProvider, type DockerConfigOptions,
} from './auth/credentials.js';
export { createAuthInterceptor, type AuthDispatchOptions } from './http/auth-interceptor.js';
export { createRetryInterceptor, defaultRetryPolicy, isRetryableError, type RetryPolicy } from './http/retry-interceptor.js';
export { backoffDelay, parseRetryAfter } from './http/retry-after.js';
export { RegistryChannel, type RegistryChannel as RegistryChannelName } from './diagnostics.js';
export * from './errors.js';
