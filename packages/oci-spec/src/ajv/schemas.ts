/**
 * JSON Schemas (draft-07) written from the OCI image-spec v1.1
 * (`schema/*.json`, `descriptor.md`, `manifest.md`, `image-index.md`,
 * `config.md`, `image-layout.md`), Docker's image manifest v2 schema 2 and
 * the runtime-spec v1.2 (`schema/config-schema.json`, `config-linux.md`).
 *
 * Unknown properties are allowed everywhere: the image-spec says readers
 * MUST ignore them, and Docker writes many (`container_config`…).
 * Digests are narrower than the spec's grammar: only sha256 and sha512,
 * lowercase, the right length, because those are all berth can verify.
 */
import { DockerMediaType, OciMediaType } from '../media-types.js';

type Schema = Record<string, unknown>;

const uint16 = { type: 'integer', minimum: 0, maximum: 65535 } as const;
const uint32 = { type: 'integer', minimum: 0, maximum: 4294967295 } as const;
const uint64 = { type: 'integer', minimum: 0 } as const;
const int64 = { type: 'integer' } as const;
const str = { type: 'string' } as const;
const strings = { type: 'array', items: str } as const;
const nullableStrings = { type: ['array', 'null'], items: str } as const;
const stringMap = { type: 'object', additionalProperties: str } as const;
const nullableStringMap = { type: ['object', 'null'], additionalProperties: str } as const;
const emptyObjectMap = { type: ['object', 'null'], additionalProperties: { type: 'object' } } as const;

// descriptor.md: type "/" subtype, each a restricted-name of RFC 6838.
const mediaType = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$' } as const;
const digest = { type: 'string', pattern: '^(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$' } as const;
// RFC 4648 §4 base64, padded.
const base64 = { type: 'string', pattern: '^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$' } as const;
// RFC 3339 date-time (config.md: created).
const dateTime = { type: 'string', pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\\.[0-9]+)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})$' } as const;

const platform: Schema = {
  type: 'object',
  required: ['architecture', 'os'],
  properties: {
    architecture: str,
    os: str,
    'os.version': str,
    'os.features': strings,
    variant: str,
    features: strings,
  },
};

const descriptor: Schema = {
  type: 'object',
  required: ['mediaType', 'size', 'digest'],
  properties: {
    mediaType,
    size: uint64,
    digest,
    urls: strings,
    annotations: stringMap,
    data: base64,
    artifactType: mediaType,
    platform,
  },
};

/** A content descriptor. */
export const descriptorSchema: Schema = descriptor;

/** An OCI image manifest (`schema/image-manifest-schema.json`). */
export const imageManifestSchema: Schema = {
  type: 'object',
  required: ['schemaVersion', 'config', 'layers'],
  properties: {
    schemaVersion: { const: 2 },
    mediaType: { const: OciMediaType.ImageManifest },
    artifactType: mediaType,
    config: descriptor,
    layers: { type: 'array', items: descriptor },
    subject: descriptor,
    annotations: stringMap,
  },
  // manifest.md: artifactType MUST be set when config.mediaType is the empty type.
  if: { type: 'object', required: ['config'], properties: { config: { type: 'object', required: ['mediaType'], properties: { mediaType: { const: OciMediaType.Empty } } } } },
  then: { type: 'object', required: ['artifactType'], properties: { artifactType: mediaType } },
};

/** An OCI image index (`schema/image-index-schema.json`); also a layout's `index.json`. */
export const imageIndexSchema: Schema = {
  type: 'object',
  required: ['schemaVersion', 'manifests'],
  properties: {
    schemaVersion: { const: 2 },
    mediaType: { const: OciMediaType.ImageIndex },
    artifactType: mediaType,
    manifests: { type: 'array', items: descriptor },
    subject: descriptor,
    annotations: stringMap,
  },
};

const dockerDescriptor: Schema = {
  type: 'object',
  required: ['mediaType', 'size', 'digest'],
  properties: { mediaType, size: uint64, digest, urls: strings },
};

/** A Docker image manifest, schema 2. */
export const dockerManifestSchema: Schema = {
  type: 'object',
  required: ['schemaVersion', 'mediaType', 'config', 'layers'],
  properties: {
    schemaVersion: { const: 2 },
    mediaType: { const: DockerMediaType.Manifest },
    config: dockerDescriptor,
    layers: { type: 'array', items: dockerDescriptor },
  },
};

/** A Docker manifest list, schema 2. */
export const dockerManifestListSchema: Schema = {
  type: 'object',
  required: ['schemaVersion', 'mediaType', 'manifests'],
  properties: {
    schemaVersion: { const: 2 },
    mediaType: { const: DockerMediaType.ManifestList },
    manifests: {
      type: 'array',
      items: {
        type: 'object',
        required: ['mediaType', 'size', 'digest', 'platform'],
        properties: { mediaType, size: uint64, digest, urls: strings, platform },
      },
    },
  },
};

/** An OCI image config (`schema/config-schema.json`), which also covers Docker's. */
export const imageConfigSchema: Schema = {
  type: 'object',
  required: ['architecture', 'os', 'rootfs'],
  properties: {
    created: dateTime,
    author: str,
    architecture: { type: 'string', minLength: 1 },
    os: { type: 'string', minLength: 1 },
    'os.version': str,
    'os.features': strings,
    variant: str,
    config: {
      type: ['object', 'null'],
      properties: {
        User: str,
        ExposedPorts: emptyObjectMap,
        Env: { type: ['array', 'null'], items: { type: 'string', pattern: '^[^=]+=' } },
        Entrypoint: nullableStrings,
        Cmd: nullableStrings,
        Volumes: emptyObjectMap,
        WorkingDir: str,
        Labels: nullableStringMap,
        StopSignal: str,
        ArgsEscaped: { type: 'boolean' },
        Shell: nullableStrings,
        OnBuild: nullableStrings,
        Healthcheck: {
          type: ['object', 'null'],
          properties: {
            Test: nullableStrings,
            Interval: int64,
            Timeout: int64,
            StartPeriod: int64,
            StartInterval: int64,
            Retries: int64,
          },
        },
      },
    },
    rootfs: {
      type: 'object',
      required: ['type', 'diff_ids'],
      properties: {
        type: { const: 'layers' },
        diff_ids: { type: 'array', items: digest },
      },
    },
    history: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          created: dateTime,
          author: str,
          created_by: str,
          comment: str,
          empty_layer: { type: 'boolean' },
        },
      },
    },
  },
};

/** The `oci-layout` marker file. */
export const ociLayoutSchema: Schema = {
  type: 'object',
  required: ['imageLayoutVersion'],
  properties: { imageLayoutVersion: { const: '1.0.0' } },
};

/** A distribution-spec error body. */
export const distributionErrorBodySchema: Schema = {
  type: 'object',
  required: ['errors'],
  properties: {
    errors: {
      type: 'array',
      items: {
        type: 'object',
        required: ['code'],
        properties: { code: str, message: str },
      },
    },
  },
};

// --- runtime-spec v1.2 ------------------------------------------------------
const idMapping: Schema = {
  type: 'object',
  required: ['containerID', 'hostID', 'size'],
  properties: { containerID: uint32, hostID: uint32, size: uint32 },
};
const idMappings = { type: 'array', items: idMapping } as const;
const absolutePath = { type: 'string', pattern: '^/' } as const;
const hook: Schema = {
  type: 'object',
  required: ['path'],
  properties: { path: absolutePath, args: strings, env: strings, timeout: { type: 'integer', minimum: 1 } },
};
const hooks = { type: 'array', items: hook } as const;
const capabilitySet = { type: 'array', items: { type: 'string', pattern: '^CAP_[A-Z0-9_]+$' } } as const;
const throttleDevice: Schema = {
  type: 'object', required: ['major', 'minor', 'rate'], properties: { major: int64, minor: int64, rate: uint64 },
};
const throttleDevices = { type: 'array', items: throttleDevice } as const;

/** A runtime-spec `config.json`. */
export const runtimeSpecSchema: Schema = {
  type: 'object',
  required: ['ociVersion'],
  properties: {
    ociVersion: { type: 'string', pattern: '^[0-9]+\\.[0-9]+\\.[0-9]+(?:-[0-9A-Za-z.+-]+)?$' },
    root: {
      type: 'object',
      required: ['path'],
      properties: { path: { type: 'string', minLength: 1 }, readonly: { type: 'boolean' } },
    },
    hostname: str,
    domainname: str,
    annotations: stringMap,
    mounts: {
      type: 'array',
      items: {
        type: 'object',
        required: ['destination'],
        properties: {
          destination: { type: 'string', minLength: 1 },
          source: str,
          type: str,
          options: strings,
          uidMappings: idMappings,
          gidMappings: idMappings,
        },
      },
    },
    process: {
      type: 'object',
      required: ['cwd', 'user'],
      properties: {
        terminal: { type: 'boolean' },
        consoleSize: {
          type: 'object', required: ['height', 'width'], properties: { height: uint64, width: uint64 },
        },
        cwd: absolutePath,
        env: { type: 'array', items: { type: 'string', pattern: '^[^=]+=' } },
        args: strings,
        commandLine: str,
        user: {
          type: 'object',
          required: ['uid', 'gid'],
          properties: {
            uid: uint32,
            gid: uint32,
            umask: uint32,
            additionalGids: { type: 'array', items: uint32 },
            username: str,
          },
        },
        capabilities: {
          type: 'object',
          properties: {
            bounding: capabilitySet,
            permitted: capabilitySet,
            effective: capabilitySet,
            inheritable: capabilitySet,
            ambient: capabilitySet,
          },
        },
        rlimits: {
          type: 'array',
          items: {
            type: 'object',
            required: ['type', 'soft', 'hard'],
            properties: { type: { type: 'string', pattern: '^RLIMIT_[A-Z]+$' }, soft: uint64, hard: uint64 },
          },
        },
        noNewPrivileges: { type: 'boolean' },
        apparmorProfile: str,
        oomScoreAdj: { type: 'integer', minimum: -1000, maximum: 1000 },
        selinuxLabel: str,
        ioPriority: {
          type: 'object',
          required: ['class'],
          properties: {
            class: { enum: ['IOPRIO_CLASS_RT', 'IOPRIO_CLASS_BE', 'IOPRIO_CLASS_IDLE'] },
            priority: { type: 'integer', minimum: 0, maximum: 7 },
          },
        },
      },
    },
    hooks: {
      type: 'object',
      properties: {
        prestart: hooks,
        createRuntime: hooks,
        createContainer: hooks,
        startContainer: hooks,
        poststart: hooks,
        poststop: hooks,
      },
    },
    linux: {
      type: 'object',
      properties: {
        namespaces: {
          type: 'array',
          items: {
            type: 'object',
            required: ['type'],
            properties: {
              type: { enum: ['pid', 'network', 'mount', 'ipc', 'uts', 'user', 'cgroup', 'time'] },
              path: absolutePath,
            },
          },
        },
        uidMappings: idMappings,
        gidMappings: idMappings,
        devices: {
          type: 'array',
          items: {
            type: 'object',
            required: ['path', 'type'],
            properties: {
              path: absolutePath,
              type: { enum: ['c', 'b', 'u', 'p'] },
              major: int64,
              minor: int64,
              fileMode: uint32,
              uid: uint32,
              gid: uint32,
            },
          },
        },
        cgroupsPath: str,
        resources: {
          type: 'object',
          properties: {
            devices: {
              type: 'array',
              items: {
                type: 'object',
                required: ['allow'],
                properties: {
                  allow: { type: 'boolean' },
                  type: { enum: ['a', 'b', 'c'] },
                  major: int64,
                  minor: int64,
                  access: { type: 'string', pattern: '^[rwm]{0,3}$' },
                },
              },
            },
            memory: {
              type: 'object',
              properties: {
                limit: int64,
                reservation: int64,
                swap: int64,
                kernel: int64,
                kernelTCP: int64,
                swappiness: uint64,
                disableOOMKiller: { type: 'boolean' },
                useHierarchy: { type: 'boolean' },
                checkBeforeUpdate: { type: 'boolean' },
              },
            },
            cpu: {
              type: 'object',
              properties: {
                shares: uint64,
                quota: int64,
                burst: uint64,
                period: uint64,
                realtimeRuntime: int64,
                realtimePeriod: uint64,
                cpus: str,
                mems: str,
                idle: int64,
              },
            },
            pids: { type: 'object', required: ['limit'], properties: { limit: int64 } },
            blockIO: {
              type: 'object',
              properties: {
                weight: uint16,
                leafWeight: uint16,
                weightDevice: {
                  type: 'array',
                  items: {
                    type: 'object',
                    required: ['major', 'minor'],
                    properties: { major: int64, minor: int64, weight: uint16, leafWeight: uint16 },
                  },
                },
                throttleReadBpsDevice: throttleDevices,
                throttleWriteBpsDevice: throttleDevices,
                throttleReadIOPSDevice: throttleDevices,
                throttleWriteIOPSDevice: throttleDevices,
              },
            },
            hugepageLimits: {
              type: 'array',
              items: {
                type: 'object',
                required: ['pageSize', 'limit'],
                properties: { pageSize: { type: 'string', pattern: '^[1-9][0-9]*[KMGT]B$' }, limit: uint64 },
              },
            },
            network: {
              type: 'object',
              properties: {
                classID: uint32,
                priorities: {
                  type: 'array',
                  items: { type: 'object', required: ['name', 'priority'], properties: { name: str, priority: uint32 } },
                },
              },
            },
            unified: stringMap,
          },
        },
        sysctl: stringMap,
        seccomp: {
          type: 'object',
          required: ['defaultAction'],
          properties: {
            defaultAction: { type: 'string', pattern: '^SCMP_ACT_[A-Z_]+$' },
            defaultErrnoRet: uint32,
            architectures: { type: 'array', items: { type: 'string', pattern: '^SCMP_ARCH_[A-Z0-9_]+$' } },
            flags: { type: 'array', items: { type: 'string', pattern: '^SECCOMP_FILTER_FLAG_[A-Z_]+$' } },
            listenerPath: str,
            listenerMetadata: str,
            syscalls: {
              type: 'array',
              items: {
                type: 'object',
                required: ['names', 'action'],
                properties: {
                  names: { type: 'array', items: str, minItems: 1 },
                  action: { type: 'string', pattern: '^SCMP_ACT_[A-Z_]+$' },
                  errnoRet: uint32,
                  args: {
                    type: 'array',
                    items: {
                      type: 'object',
                      required: ['index', 'value', 'op'],
                      properties: {
                        index: uint32,
                        value: uint64,
                        valueTwo: uint64,
                        op: { enum: ['SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_MASKED_EQ'] },
                      },
                    },
                  },
                },
              },
            },
          },
        },
        rootfsPropagation: { enum: ['private', 'shared', 'slave', 'unbindable', 'rprivate', 'rshared', 'rslave', 'runbindable'] },
        maskedPaths: { type: 'array', items: absolutePath },
        readonlyPaths: { type: 'array', items: absolutePath },
        mountLabel: str,
        intelRdt: {
          type: 'object',
          properties: {
            closID: str,
            l3CacheSchema: str,
            memBwSchema: str,
            enableCMT: { type: 'boolean' },
            enableMBM: { type: 'boolean' },
          },
        },
        personality: {
          type: 'object',
          required: ['domain'],
          properties: { domain: { enum: ['LINUX', 'LINUX32'] }, flags: strings },
        },
      },
    },
  },
};
