/**
 * The engine's CNI network manager, initialized on first use: a container
 * in `--network none` (or `host`) mode never calls it, so opening the
 * engine for `run --network none` neither reads the network records nor
 * creates the predefined networks (reading them sorts the names with
 * `localeCompare`, whose first call loads ICU's collation data, ~15 ms).
 * Any other call initializes it first, exactly as
 * {@link openCniNetworkManager} would have at open.
 */
import type { AttachOptions, CreateNetworkOptions, Endpoint, NetworkInspect, NetworkManager } from '../network.js';
import { CniNetworkManager, type CniNetworkManagerOptions, type openCniNetworkManager } from '../cni/cni-network-manager.js';

/**
 * A {@link NetworkManager} over a {@link CniNetworkManager} whose `init`
 * (directories, predefined networks) runs before its first asynchronous
 * call; `sandboxPath`, a path computation, needs none. Options are checked
 * at construction, as {@link openCniNetworkManager} checks them.
 */
export class LazyCniNetworkManager implements NetworkManager {
  readonly #m: CniNetworkManager;
  #ready: Promise<CniNetworkManager> | undefined;

  constructor(opts: CniNetworkManagerOptions) {
    this.#m = new CniNetworkManager(opts);
  }

  /** Whether the manager was initialized (a call other than `sandboxPath` was made). */
  get initialized(): boolean {
    return this.#ready !== undefined;
  }

  /** The initialized manager; a failed init is retried by the next call. */
  #open(): Promise<CniNetworkManager> {
    this.#ready ??= this.#m.init().then(() => this.#m, (e: unknown) => {
      this.#ready = undefined;
      throw e;
    });
    return this.#ready;
  }

  async create(opts: CreateNetworkOptions): Promise<NetworkInspect> { return (await this.#open()).create(opts); }
  async inspect(ref: string): Promise<NetworkInspect> { return (await this.#open()).inspect(ref); }
  async list(opts?: { filters?: Record<string, string[]> }): Promise<NetworkInspect[]> { return (await this.#open()).list(opts); }
  async remove(ref: string): Promise<void> { return (await this.#open()).remove(ref); }
  async prune(opts?: { filters?: Record<string, string[]> }): Promise<{ NetworksDeleted: string[] }> { return (await this.#open()).prune(opts); }
  async createSandbox(containerId: string): Promise<string> { return (await this.#open()).createSandbox(containerId); }
  sandboxPath(containerId: string): string { return this.#m.sandboxPath(containerId); }
  async removeSandbox(containerId: string): Promise<void> { return (await this.#open()).removeSandbox(containerId); }
  async attach(network: string, opts: AttachOptions): Promise<Endpoint> { return (await this.#open()).attach(network, opts); }
  async detach(network: string, containerId: string): Promise<void> { return (await this.#open()).detach(network, containerId); }
  async check(network: string, containerId: string): Promise<void> { return (await this.#open()).check(network, containerId); }
  async endpoints(containerId: string): Promise<Endpoint[]> { return (await this.#open()).endpoints(containerId); }
}
