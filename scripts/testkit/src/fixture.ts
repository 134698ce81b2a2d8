// Fixture images: what `bash scripts/fixtures` builds and `listFixtures()` returns.

/** Format variants a fixture image comes in. */
export const FixtureVariants = ['oci-gzip', 'oci-zstd', 'docker-gzip', 'oci-index', 'docker-manifest-list'] as const;
/** One of {@link FixtureVariants}. */
export type FixtureVariant = (typeof FixtureVariants)[number];

/** A platform of a fixture image, as in an OCI descriptor. */
export interface FixturePlatform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
}

/**
 * A fixture image built by `bash scripts/fixtures`.
 *
 * `transport: 'oci'`: `path` is an OCI image layout and `ref` the `org.opencontainers.image.ref.name`
 * of the image in its `index.json` (skopeo: `oci:<path>:<ref>`).
 * `transport: 'dir'`: `path` is a skopeo `dir:` copy: `manifest.json`, blobs named by their hex
 * digest and, for a manifest list, each instance manifest as `<hex>.manifest.json`
 * (skopeo: `dir:<path>`). Docker schema2 variants use `dir`, since OCI layouts cannot hold them
 * through skopeo.
 */
export interface FixtureImage {
  /** Image name: `busybox` or `multilayer`. */
  readonly name: string;
  /** Format variant. */
  readonly variant: FixtureVariant;
  /** Absolute path of the layout or `dir:` copy. */
  readonly path: string;
  /** Storage format of `path`. */
  readonly transport: 'oci' | 'dir';
  /** Tag inside an OCI layout (`latest`); absent for `dir`. */
  readonly ref?: string;
  /** Repository the image is pushed to in seeded registries. */
  readonly repo: string;
  /** Tag it is pushed under (the variant name; `docker-gzip` is also `latest`). */
  readonly tag: string;
  /** Other tags of the same image in seeded registries. */
  readonly extraTags?: readonly string[];
  /** Digest of the top-level manifest (or index/list) bytes; the same in seeded registries. */
  readonly digest: string;
  /** Media type of the top-level manifest. */
  readonly mediaType: string;
  /** Platforms: one for an image, several for an index or list. */
  readonly platforms: readonly FixturePlatform[];
}

/** A blob reachable from a fixture's top-level manifest, as found by `walkFixture`. */
export interface FixtureBlob {
  /** What the blob is: `index` (OCI index or Docker list), `manifest`, `config` or `layer`. */
  readonly kind: 'index' | 'manifest' | 'config' | 'layer';
  readonly digest: string;
  /** Media type from the descriptor that points at it (the fixture's own for the top level). */
  readonly mediaType: string;
  readonly size: number;
  /** File holding the blob's bytes. */
  readonly path: string;
  /** Platform of the manifest it belongs to (from the index), for children of an index. */
  readonly platform?: FixturePlatform;
}
