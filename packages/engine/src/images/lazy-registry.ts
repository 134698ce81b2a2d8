/**
 * The default registry client, loaded on first use: `@berth/registry-client`
 * pulls in undici (about 110 modules), which commands that never touch a
 * registry (run, rm, ps) should not pay for at start-up.
 */
import type { Descriptor as RegistryDescriptor } from '@berth/oci-spec';
import type {
  FetchManifestOptions, FetchOptions, Fetcher, PushOptions, Pusher, RegistryClientOptions, ResolveOptions,
} from '@berth/registry-client';
import type { ImageRegistry } from './local-image-service.js';

type Client = ImageRegistry & { close(): Promise<void> };

/** Options of a registry client, or a function that makes them when the client is first needed. */
export type LazyRegistryOptions = RegistryClientOptions | (() => RegistryClientOptions | Promise<RegistryClientOptions>);

/** The options `o` stands for (calls it when it is a function). */
export async function registryOptionsOf(o: LazyRegistryOptions | undefined): Promise<RegistryClientOptions> {
  return typeof o === 'function' ? o() : o ?? {};
}

/** An {@link ImageRegistry} that imports and creates the registry client on its first call. */
export class LazyRegistryClient implements ImageRegistry {
  #client: Promise<Client> | undefined;
  readonly #options: LazyRegistryOptions | undefined;

  /** `options`: the client's, made (when a function) on the first call too. */
  constructor(options?: LazyRegistryOptions) {
    this.#options = options;
  }

  #load(): Promise<Client> {
    this.#client ??= Promise.all([import('@berth/registry-client'), registryOptionsOf(this.#options)])
      .then(([m, o]) => m.createRegistryClient(o));
    return this.#client;
  }

  /** Resolves `ref` to a descriptor (loads the client). */
  resolve(ref: string, options?: ResolveOptions): ReturnType<ImageRegistry['resolve']> {
    return this.#load().then((c) => c.resolve(ref, options));
  }

  /** A fetcher for `ref`; the client is loaded by its first call. */
  fetcher(ref: string): Fetcher {
    const f = this.#load().then((c) => c.fetcher(ref));
    return {
      fetch: async (desc: RegistryDescriptor, options?: FetchOptions) => (await f).fetch(desc, options),
      fetchManifest: async (desc: RegistryDescriptor, options?: FetchManifestOptions) => (await f).fetchManifest(desc, options),
    };
  }

  /** A pusher for `ref`; the client is loaded by its first call. */
  pusher(ref: string): Pusher {
    const p = this.#load().then((c) => c.pusher(ref));
    return {
      push: async (desc: RegistryDescriptor, options?: PushOptions) => (await p).push(desc, options),
      pushBlob: async (desc, content, options?: PushOptions) => (await p).pushBlob(desc, content, options),
      pushManifest: async (desc, bytes, options?: PushOptions) => (await p).pushManifest(desc, bytes, options),
    };
  }

  /** Closes the client if it was loaded. */
  async close(): Promise<void> {
    if (this.#client !== undefined) await (await this.#client).close();
  }
}
