/**
 * `@berth/engine/local`: the daemonless engine as a command-line program
 * uses it, without the Docker Engine API server (node:http and its routes)
 * that `@berth/engine` also exports. The same classes and functions as the
 * main entry point (re-exported from the same modules, so `instanceof` and
 * identity hold across both); every type of the main entry point is here too.
 *
 * A program that imports only this entry point loads fewer modules at
 * start-up, and a bundler following its imports leaves the API server in a
 * chunk of its own until the program `import()`s `@berth/engine`.
 */
export type * from './index.js';
export * from './errors.js';
export { ContainerStatus } from './container.js';
export { EventType } from './event.js';
export { openEngine, LocalEngine, LocalContainerService, LocalNetworkService, engineVersion, toSummary, toInspect } from './local/local-engine.js';
export { openJournalEventBus, JournalEventBus, eventMatches, validateEventFilters } from './journal/journal-event-bus.js';
export { openLocalImageService, LocalImageService, RepoDigestAnnotation, SnapshotLabel } from './images/local-image-service.js';
export * from './images/errors.js';
export { parseVolumeFlag, parseMountFlag, parseTmpfsFlag, parseSize, toOciMount } from './mounts/parse-mount-spec.js';
export { parsePublishFlag } from './ports/parse-publish.js';
export { parseTimestamp, rfc3339Nano, parseRfc3339Nano, nowNanos } from './internal/ids.js';
export { humanDuration, containerStatusText } from './internal/human.js';
export { humanSize, progressBar, shortDigest } from './images/progress.js';
