/**
 * OCI image-spec v1.1 documents: manifest, index, image config and the OCI
 * image layout files (`oci-layout`, `index.json`).
 */
import type { Descriptor } from './descriptor.js';
import type { Digest } from './digest.js';
import type { OciMediaType } from './media-types.js';
import type { Platform } from './platform.js';

/** An OCI image manifest (`manifest.md`): one image for one platform. */
export interface ImageManifest {
  /** Always 2. */
  schemaVersion: 2;
  /** `application/vnd.oci.image.manifest.v1+json`; SHOULD be present. */
  mediaType?: typeof OciMediaType.ImageManifest;
  /** For artifacts: the artifact's type (v1.1). */
  artifactType?: string;
  /** The image config (or, for artifacts, any config blob). */
  config: Descriptor;
  /** The filesystem layers, base first. */
  layers: Descriptor[];
  /** The manifest this one refers to (signatures, SBOMs; v1.1). */
  subject?: Descriptor;
  /** Arbitrary metadata. */
  annotations?: Record<string, string>;
}

/** An OCI image index (`image-index.md`): manifests for several platforms, or a layout's `index.json`. */
export interface ImageIndex {
  /** Always 2. */
  schemaVersion: 2;
  /** `application/vnd.oci.image.index.v1+json`; SHOULD be present. */
  mediaType?: typeof OciMediaType.ImageIndex;
  /** For artifacts: the artifact's type (v1.1). */
  artifactType?: string;
  /** The manifests (or nested indexes), usually with `platform`. */
  manifests: Descriptor[];
  /** The manifest this index refers to (v1.1). */
  subject?: Descriptor;
  /** Arbitrary metadata. */
  annotations?: Record<string, string>;
}

/** The execution parameters of an image config (`config.md`, field `config`). Docker writes `null` for empty lists. */
export interface ImageExecConfig {
  /** `user`, `uid`, `user:group`, `uid:gid`… */
  User?: string;
  /** Ports to expose, as `{"80/tcp": {}}`. */
  ExposedPorts?: Record<string, Record<string, never>> | null;
  /** `KEY=value` entries. */
  Env?: string[] | null;
  /** The command prefix. */
  Entrypoint?: string[] | null;
  /** Default arguments (or the command, without an entrypoint). */
  Cmd?: string[] | null;
  /** Directories to be volumes, as `{"/data": {}}`. */
  Volumes?: Record<string, Record<string, never>> | null;
  /** The working directory. */
  WorkingDir?: string;
  /** Arbitrary labels. */
  Labels?: Record<string, string> | null;
  /** The signal that stops the container (`SIGTERM`, `9`). */
  StopSignal?: string;
  /** Windows only: the command line is already escaped. */
  ArgsEscaped?: boolean;
  /** Docker extension: the healthcheck. */
  Healthcheck?: {
    Test?: string[] | null;
    Interval?: number;
    Timeout?: number;
    StartPeriod?: number;
    StartInterval?: number;
    Retries?: number;
  } | null;
  /** Docker extension: the shell of RUN/CMD shell form. */
  Shell?: string[] | null;
  /** Docker extension: ONBUILD triggers. */
  OnBuild?: string[] | null;
}

/** One step of an image's history. */
export interface ImageHistory {
  /** RFC 3339 time of creation. */
  created?: string;
  /** Who made the step. */
  author?: string;
  /** The command that made the step. */
  created_by?: string;
  /** A comment. */
  comment?: string;
  /** True when the step made no layer. */
  empty_layer?: boolean;
}

/** An image's root filesystem: the diff ids of its layers, base first. */
export interface ImageRootfs {
  /** Always `layers`. */
  type: 'layers';
  /** The digests of the uncompressed layers. */
  diff_ids: Digest[];
}

/**
 * An OCI image config (`config.md`); Docker's `application/vnd.docker.container.image.v1+json`
 * has the same shape plus extras. Its platform fields (`architecture`, `os`, `os.version`,
 * `os.features`, `variant`) are those of {@link Platform}, at the top level.
 */
export interface ImageConfig extends Omit<Platform, 'features'> {
  /** RFC 3339 time of creation. */
  created?: string;
  /** Who made the image. */
  author?: string;
  /** Execution defaults. */
  config?: ImageExecConfig;
  /** The layers' diff ids. */
  rootfs: ImageRootfs;
  /** How the image was made, one entry per step. */
  history?: ImageHistory[];
  /** Other fields Docker writes (`container_config`, `docker_version`…). */
  [extra: string]: unknown;
}

/** The `oci-layout` file at the root of an OCI image layout (`image-layout.md`). */
export interface OciLayout {
  /** Always `1.0.0`. */
  imageLayoutVersion: '1.0.0';
}

/** File and directory names of an OCI image layout. */
export const OciLayoutFile = {
  /** The marker file holding {@link OciLayout}. */
  Layout: 'oci-layout',
  /** The entry point, an {@link ImageIndex}. */
  Index: 'index.json',
  /** Blobs live at `blobs/<algorithm>/<hex>`. */
  Blobs: 'blobs',
} as const;
/** One of the values of {@link OciLayoutFile}. */
export type OciLayoutFile = (typeof OciLayoutFile)[keyof typeof OciLayoutFile];

/** The layout version berth writes and reads. */
export const OCI_LAYOUT_VERSION = '1.0.0';
