/**
 * @berth/cow-fs: copy-on-write filesystems for containers.
 *
 * - Snapshotters (containerd's key/name/parent model): {@link OverlaySnapshotter}
 *   (overlayfs, many layers) and {@link CopySnapshotter} (portable full copies
 *   with reflinks).
 * - {@link applyLayer}: restores an OCI layer (tar, gzip, zstd) safely — no
 *   entry ever writes outside the target — with whiteouts applied or
 *   converted to overlay form, computing the diffId as it goes.
 * - {@link diff}: the layer between two trees (or of an overlay upper dir),
 *   deterministic, gzip/zstd/none.
 *
 * Imports @berth/oci-spec (errors) and @berth/namespaces (mknod, xattrs,
 * mount, syncfs); the engine composes it with image-store and the registry.
 */
export * from './errors.js';
export { SnapshotKind } from './snapshotter.js';
export type { Mount, SnapshotInfo, SnapshotOptions, Snapshotter, SnapshotterCapabilities, Usage, WalkFilter } from './snapshotter.js';
export { OverlaySnapshotter, openOverlaySnapshotter, type OverlaySnapshotterOptions } from './overlay/overlay-snapshotter.js';
export { CopySnapshotter, openCopySnapshotter } from './copy/copy-snapshotter.js';
export { applyLayer, entryComponents, isOpaqueDir, WhiteoutMode, type ApplyLayerOptions, type ApplyLayerResult } from './archive/apply.js';
export { applyLayerToMounts } from './archive/apply-mounts.js';
export { diff, diffMounts, type DiffOptions, type DiffResult, type DiffStream } from './archive/diff.js';
export { Compression, detectCompression, zstdCliPath, type GzipDecoder, type LayerDecoder, type ZstdDecoder } from './archive/compression.js';
export { TarParser, parsePaxRecords, type TarSink } from './archive/tar-reader.js';
export { encodeTarHeader, encodeTarHeaderInto, tarPadding, TAR_END, type TarWriteHeader, type TarWriteOptions } from './archive/tar-writer.js';
export { TarEntryType, type TarHeader, type Timespec, type SparseRegion } from './archive/tar-header.js';
export { mountAll, unmountAll } from './internal/mount.js';
export { CowFsChannel, type LayerAppliedMessage, type SnapshotEventMessage } from './diagnostics.js';
