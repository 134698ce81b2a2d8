/**
 * Media types of the OCI image-spec v1.1 and Docker's image manifest v2 schema 2,
 * as `as const` objects with derived unions, plus small classifiers.
 */

/** OCI image-spec v1.1 media types (`specs-go/v1/mediatype.go`). */
export const OciMediaType = {
  Descriptor: 'application/vnd.oci.descriptor.v1+json',
  LayoutHeader: 'application/vnd.oci.layout.header.v1+json',
  ImageIndex: 'application/vnd.oci.image.index.v1+json',
  ImageManifest: 'application/vnd.oci.image.manifest.v1+json',
  ImageConfig: 'application/vnd.oci.image.config.v1+json',
  Empty: 'application/vnd.oci.empty.v1+json',
  Layer: 'application/vnd.oci.image.layer.v1.tar',
  LayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  LayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  /** Deprecated by image-spec v1.1, still read. */
  LayerNonDistributable: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  /** Deprecated by image-spec v1.1, still read. */
  LayerNonDistributableGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  /** Deprecated by image-spec v1.1, still read. */
  LayerNonDistributableZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
} as const;
/** One of the values of {@link OciMediaType}. */
export type OciMediaType = (typeof OciMediaType)[keyof typeof OciMediaType];

/** Docker image manifest v2 schema 2 media types (distribution `manifest/schema2`, `manifest/manifestlist`). */
export const DockerMediaType = {
  ManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  Manifest: 'application/vnd.docker.distribution.manifest.v2+json',
  /** Schema 1: recognised only to be refused with `ERR_OCI_UNSUPPORTED_MEDIA_TYPE`. */
  ManifestV1: 'application/vnd.docker.distribution.manifest.v1+json',
  /** Signed schema 1: recognised only to be refused. */
  ManifestV1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  ImageConfig: 'application/vnd.docker.container.image.v1+json',
  Layer: 'application/vnd.docker.image.rootfs.diff.tar',
  LayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  /** Not in Docker's schema 2 text; written by containerd and skopeo. */
  LayerZstd: 'application/vnd.docker.image.rootfs.diff.tar.zstd',
  ForeignLayerGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  PluginConfig: 'application/vnd.docker.plugin.v1+json',
} as const;
/** One of the values of {@link DockerMediaType}. */
export type DockerMediaType = (typeof DockerMediaType)[keyof typeof DockerMediaType];

/** Any media type berth names. Other strings still appear in descriptors (artifacts). */
export type KnownMediaType = OciMediaType | DockerMediaType;

/** Media types of single-platform image manifests berth reads. */
export type ManifestMediaType = typeof OciMediaType.ImageManifest | typeof DockerMediaType.Manifest;
/** Media types of multi-platform indexes berth reads. */
export type IndexMediaType = typeof OciMediaType.ImageIndex | typeof DockerMediaType.ManifestList;

/** How a layer blob is compressed. */
export const LayerCompression = { None: 'none', Gzip: 'gzip', Zstd: 'zstd' } as const;
/** One of the values of {@link LayerCompression}. */
export type LayerCompression = (typeof LayerCompression)[keyof typeof LayerCompression];

/** Is `mediaType` an image manifest (OCI or Docker schema 2)? */
export function isManifestMediaType(mediaType: string | undefined): mediaType is ManifestMediaType {
  return mediaType === OciMediaType.ImageManifest || mediaType === DockerMediaType.Manifest;
}

/** Is `mediaType` an index (OCI image index or Docker manifest list)? */
export function isIndexMediaType(mediaType: string | undefined): mediaType is IndexMediaType {
  return mediaType === OciMediaType.ImageIndex || mediaType === DockerMediaType.ManifestList;
}

/** Is `mediaType` an image config (OCI or Docker)? */
export function isConfigMediaType(mediaType: string | undefined): boolean {
  return mediaType === OciMediaType.ImageConfig || mediaType === DockerMediaType.ImageConfig;
}

const layerCompressions: ReadonlyMap<string, LayerCompression> = new Map([
  [OciMediaType.Layer, LayerCompression.None],
  [OciMediaType.LayerGzip, LayerCompression.Gzip],
  [OciMediaType.LayerZstd, LayerCompression.Zstd],
  [OciMediaType.LayerNonDistributable, LayerCompression.None],
  [OciMediaType.LayerNonDistributableGzip, LayerCompression.Gzip],
  [OciMediaType.LayerNonDistributableZstd, LayerCompression.Zstd],
  [DockerMediaType.Layer, LayerCompression.None],
  [DockerMediaType.LayerGzip, LayerCompression.Gzip],
  [DockerMediaType.LayerZstd, LayerCompression.Zstd],
  [DockerMediaType.ForeignLayerGzip, LayerCompression.Gzip],
]);

/** Is `mediaType` a filesystem layer berth can unpack? */
export function isLayerMediaType(mediaType: string | undefined): boolean {
  return mediaType !== undefined && layerCompressions.has(mediaType);
}

/** The compression of a layer media type, or undefined when it is not a layer berth knows. */
export function layerCompression(mediaType: string): LayerCompression | undefined {
  return layerCompressions.get(mediaType);
}

/** Is `mediaType` a non-distributable (foreign) layer, which registries may not serve? */
export function isForeignLayerMediaType(mediaType: string): boolean {
  return mediaType === DockerMediaType.ForeignLayerGzip || mediaType.startsWith('application/vnd.oci.image.layer.nondistributable.');
}
