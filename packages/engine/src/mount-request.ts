/** Mount requests as the CLI and API express them, and the OCI runtime-spec mounts they become. */

/** A mount as requested by `-v`, `--mount` or `--tmpfs` (Docker's `mount.Mount`, simplified). */
export interface MountRequest {
  Type: 'bind' | 'volume' | 'tmpfs';
  /** Host path (bind), volume name (volume; empty for anonymous), empty (tmpfs). */
  Source: string;
  /** Absolute path inside the container. */
  Target: string;
  ReadOnly: boolean;
  /** Mount propagation for binds: rprivate (default), private, rshared, shared, rslave, slave. */
  Propagation?: string;
  /** SELinux relabel request (`z`/`Z`); recorded, not acted on. */
  Relabel?: 'z' | 'Z';
  /** Volume: do not copy image content into an empty volume. */
  NoCopy?: boolean;
  /** Volume: labels and driver options for an implicitly created volume. */
  VolumeLabels?: Record<string, string>;
  VolumeOptions?: Record<string, string>;
  /** Bind: whether the bind is recursive (default true, as `-v` and `--mount` do). */
  Recursive?: boolean;
  /** Bind: create the host path when missing (`-v` does, `--mount` does not). */
  CreateHostPath?: boolean;
  /** tmpfs: size in bytes and mode; extra raw options. */
  TmpfsSize?: number;
  TmpfsMode?: number;
  TmpfsOptions?: string[];
}

/** One entry of an OCI runtime spec's `mounts` (runtime-spec config.md "Mounts"). */
export interface OciMount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
}
