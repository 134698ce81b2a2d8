/** Networks, sandboxes (network namespaces) and endpoints, in Docker's `network inspect` shape. */

/** One container as listed in `Containers` of `docker network inspect`. */
export interface NetworkContainer {
  Name: string;
  EndpointID: string;
  MacAddress: string;
  /** CIDR form, e.g. `10.89.0.2/16`. */
  IPv4Address: string;
  IPv6Address: string;
}

/** `docker network inspect` output for one network. */
export interface NetworkInspect {
  Name: string;
  Id: string;
  Created: string;
  Scope: 'local';
  /** `bridge` for CNI bridge networks, `host` and `null` for the predefined modes. */
  Driver: 'bridge' | 'host' | 'null';
  EnableIPv6: boolean;
  IPAM: { Driver: 'default'; Options: Record<string, string> | null; Config: Array<{ Subnet: string; Gateway: string }> };
  Internal: boolean;
  Attachable: boolean;
  Ingress: boolean;
  ConfigFrom: { Network: string };
  ConfigOnly: boolean;
  Containers: Record<string, NetworkContainer>;
  Options: Record<string, string>;
  Labels: Record<string, string>;
}

/** Options of {@link NetworkManager.create}, like `docker network create`. */
export interface CreateNetworkOptions {
  name: string;
  /** Only `bridge`. */
  driver?: string;
  /** CIDR; allocated from the pool when absent. */
  subnet?: string;
  /** Defaults to the first host address of the subnet. */
  gateway?: string;
  /** No default route out of the network. */
  internal?: boolean;
  attachable?: boolean;
  labels?: Record<string, string>;
  /** Driver options; `com.docker.network.bridge.name` picks the bridge's name. */
  options?: Record<string, string>;
}

/** One published port, as the CNI portmap plugin takes it (`runtimeConfig.portMappings`). */
export interface PortMapping {
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp' | 'sctp';
  /** Empty for all host addresses. */
  hostIP?: string;
}

/** Options of {@link NetworkManager.attach}. */
export interface AttachOptions {
  containerId: string;
  /** The container's name without `/`; it and `aliases` resolve to its address on user networks. */
  containerName: string;
  /** The network namespace file (from {@link NetworkManager.createSandbox}). */
  netnsPath: string;
  aliases?: string[];
  portMappings?: PortMapping[];
  /** A fixed address (`--ip`). */
  ipv4Address?: string;
  /** Interface name inside the namespace; `eth0`, `eth1`… by default. */
  ifname?: string;
  /** The container's generated hosts file, kept up to date with peers on user networks. */
  hostsPath?: string;
  /** The container's host name, written to its own hosts entry. */
  hostname?: string;
}

/** One container's attachment to one network. */
export interface Endpoint {
  networkId: string;
  networkName: string;
  containerId: string;
  containerName: string;
  endpointId: string;
  ifname: string;
  netnsPath: string;
  /** Bare address, `10.89.0.2`. */
  ipAddress: string;
  prefixLen: number;
  gateway: string;
  macAddress: string;
  aliases: string[];
  portMappings: PortMapping[];
  hostsPath?: string;
  hostname?: string;
}

/** Notified after network changes (the engine turns these into events). */
export type NetworkListener = (action: 'create' | 'destroy' | 'connect' | 'disconnect', network: NetworkInspect, containerId?: string) => void;

/**
 * The network manager: network definitions, one network namespace
 * ("sandbox") per container, and endpoints made by running CNI plugins in it.
 * Networks `bridge` (the default), `host` and `none` are predefined.
 */
export interface NetworkManager {
  create(opts: CreateNetworkOptions): Promise<NetworkInspect>;
  /** By exact name, exact id, or unique id prefix. */
  inspect(ref: string): Promise<NetworkInspect>;
  /** Filters: name, id, driver, label, type (builtin/custom), dangling. */
  list(opts?: { filters?: Record<string, string[]> }): Promise<NetworkInspect[]>;
  /** Throws `ERR_ENGINE_NETWORK_IN_USE` with endpoints, `ERR_ENGINE_NETWORK_PREDEFINED` for bridge/host/none. */
  remove(ref: string): Promise<void>;
  /** Removes custom networks without endpoints. */
  prune(opts?: { filters?: Record<string, string[]> }): Promise<{ NetworksDeleted: string[] }>;
  /** Creates the container's network namespace (with `lo` up) and returns its path. */
  createSandbox(containerId: string): Promise<string>;
  /** Where the container's namespace file is (whether or not it exists). */
  sandboxPath(containerId: string): string;
  /** Detaches every endpoint of the container and deletes its namespace. Idempotent. */
  removeSandbox(containerId: string): Promise<void>;
  /** Runs the network's CNI chain (ADD) in the namespace. */
  attach(network: string, opts: AttachOptions): Promise<Endpoint>;
  /** Runs the chain's DEL and forgets the endpoint. */
  detach(network: string, containerId: string): Promise<void>;
  /** Runs the chain's CHECK for an endpoint. */
  check(network: string, containerId: string): Promise<void>;
  /** The container's endpoints. */
  endpoints(containerId: string): Promise<Endpoint[]>;
}
