/**
 * @berth/engine: the only place where berth's flows cross packages.
 *
 * The {@link Engine} facade is built from injected subsystems (container
 * store, volume store, network manager, event bus, and later the image
 * store, registry client, snapshotter and runtime) and gives access to each.
 * This package also holds Docker's on-disk formats (config.v2.json records,
 * json-file logs), the CNI network manager, the docker CLI's mount and port
 * flag parsers, and the Docker Engine API server.
 */
export * from './errors.js';
export type * from './container.js';
export { ContainerStatus } from './container.js';
export type * from './volume.js';
export type * from './log.js';
export type * from './event.js';
export { EventType } from './event.js';
export type * from './mount-request.js';
export { openFileContainerStore, FileContainerStore, zeroTime, matchFilters, type FileContainerStoreOptions } from './file/container-store.js';
export { openLocalVolumeStore, LocalVolumeStore, anonymousVolumeLabel, isMountPoint, type LocalVolumeStoreOptions, type VolumeListener } from './local/volume-store.js';
export { parseVolumeFlag, parseMountFlag, parseTmpfsFlag, parseSize, toOciMount } from './mounts/parse-mount-spec.js';
export { openJsonFileLogWriter, JsonFileLogWriter, readJsonFileLog, maxLogLine } from './json-file/json-file-log.js';
export { openJournalEventBus, JournalEventBus, eventMatches, validateEventFilters, type JournalEventBusOptions } from './journal/journal-event-bus.js';
export { parseTimestamp, rfc3339Nano, parseRfc3339Nano, nowNanos } from './internal/ids.js';
export { processStartTicks } from './internal/proc.js';
export type * from './network.js';
export { openCniNetworkManager, CniNetworkManager, predefinedNetworks, type CniNetworkManagerOptions } from './cni/cni-network-manager.js';
export { execPlugin, addNetworkList, delNetworkList, checkNetworkList, type CniResult, type CniConfList, type CniInvocation, type CniCommand, type CniRuntimeConfig } from './cni/cni-exec.js';
export { createNetns, deleteNetns, ensurePrivateMountDir } from './cni/netns.js';
export { buildHosts, resolvConfFor, defaultHosts, type HostsEntry } from './cni/hosts.js';
export { parsePublishFlag, resolvePublish, allocateHostPort, type PublishSpec } from './ports/parse-publish.js';
export { run, type RunResult, type RunOptions } from './internal/exec.js';
export type * from './engine.js';
export { openEngine, LocalEngine, LocalContainerService, LocalNetworkService, unwiredImages, toSummary, toInspect, engineVersion } from './local/local-engine.js';
export { httpStatusForError } from './api/status.js';
export { serveDockerApi, parseFiltersParam, createOptionsFromApi, apiVersion, minApiVersion, type DockerApiServer, type ServeDockerApiOptions } from './api/docker-api-server.js';
export { humanDuration, containerStatusText } from './internal/human.js';
export type * from './images.js';
export * from './images/errors.js';
export {
  openLocalImageService, LocalImageService, RepoDigestAnnotation, SnapshotLabel,
  type LocalImageServiceOptions, type ImageRegistry, type ImageEventSink,
} from './images/local-image-service.js';
export type { LazyRegistryOptions } from './images/lazy-registry.js';
export { chainIds, normalizeImageName } from './images/names.js';
export { containersUseImage, type ContainerImageRecords } from './images/in-use.js';
export { humanSize, progressBar, shortDigest } from './images/progress.js';
export {
  ContainerOperations, type ContainerOperationsDeps, type OperationsImageSource, type ContainerTop, type ContainerStats, type CpuStats,
  type ExecContainerOptions, type CommitContainerOptions,
} from './runtime/container-operations.js';
export { resolveInRoot } from './runtime/root-path.js';
export {
  readStatsSample, toDockerStats, streamStats, systemCpuNs, parseBlkioV1, parseIoStatV2, parseNetDev, parseFlatKeyed,
  type StatsCgroup, type StatsTarget, type StatsSample, type StreamStatsOptions, type NetworkStats, type BlkioStats, type BlkioStatEntry, type MemoryStats,
} from './runtime/container-stats.js';
export type { ContainerStatsOptions } from './runtime/container-operations.js';
export { ChangeKind, rootfsChanges, statInRoot, goFileMode, tarRootfs, type ContainerChange, type ContainerPathStat } from './runtime/container-changes.js';
export { validateUpdate, updateResources, updateFromApi, applyUpdateToHostConfig, type ContainerUpdate } from './runtime/container-update.js';
export { parseChanges, type CommitChanges } from './api/commit-changes.js';
export { parseRegistryAuth } from './api/operation-routes.js';
export { tarPath } from './runtime/tar-out.js';
