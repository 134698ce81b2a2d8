/**
 * @berth/oci-spec: the leaf of berth's package graph.
 *
 * OCI image, runtime and distribution types, media types, digests, image
 * references, platforms, validation of untrusted JSON, the error base every
 * package extends, and runtime spec generation with `with…` options.
 * It imports nothing of berth's; every other package imports it.
 */
export * from './errors.js';

// Shared nouns and document types (interfaces only).
export type { CallOptions } from './call-options.js';
export type { Mount } from './mount.js';
export type { Digest, DigestingStream, ExpectedContent } from './digest.js';
export { DigestAlgorithm } from './digest.js';
export type { Descriptor } from './descriptor.js';
export { AnnotationKey, EMPTY_JSON_DESCRIPTOR } from './descriptor.js';
export type { Platform, PlatformMatcher } from './platform.js';
export type {
  ImageConfig, ImageExecConfig, ImageHistory, ImageIndex, ImageManifest, ImageRootfs, OciLayout,
} from './image.js';
export { OCI_LAYOUT_VERSION, OciLayoutFile } from './image.js';
export type {
  DockerDescriptor, DockerManifest, DockerManifestList, DockerManifestListEntry, DockerPlatform,
} from './docker.js';
export type { DistributionError, DistributionErrorBody } from './distribution.js';
export { DistributionErrorCode } from './distribution.js';
export type {
  LinuxBlockIO, LinuxCapabilities, LinuxConfig, LinuxCpu, LinuxDevice, LinuxDeviceCgroup, LinuxHugepageLimit,
  LinuxIdMapping, LinuxIntelRdt, LinuxMemory, LinuxNamespace, LinuxResources, LinuxSeccomp, LinuxSeccompArg,
  LinuxSyscall, LinuxThrottleDevice, LinuxWeightDevice, PosixRlimit, RuntimeHook, RuntimeHooks, RuntimeMount,
  RuntimeProcess, RuntimeRoot, RuntimeSpec, RuntimeUser,
} from './runtime-spec.js';
export { NamespaceType, RUNTIME_SPEC_VERSION } from './runtime-spec.js';
export type { ImageReference } from './reference.js';
export type { SpecOpt } from './spec-opts.js';
export type {
  JsonInput, ParsedConfig, ParsedImageJson, ParsedIndex, ParsedManifest,
} from './validation.js';
export type { IndexMediaType, KnownMediaType, ManifestMediaType } from './media-types.js';
export {
  DockerMediaType, LayerCompression, OciMediaType, isConfigMediaType, isForeignLayerMediaType,
  isIndexMediaType, isLayerMediaType, isManifestMediaType, layerCompression,
} from './media-types.js';

// Digests (node:crypto).
export {
  EMPTY_SHA256, descriptorOf, digestAlgorithm, digestHex, digestOf, formatDigest, isDigest, isDigestAlgorithm, parseDigest,
} from './crypto/digests.js';
export { randomBelow, randomBytesLite, randomHex } from './crypto/random.js';
export { HashingTransform, VerifyingTransform, createDigester, createVerifier } from './crypto/streams.js';

// Image references (distribution/reference grammar).
export {
  DEFAULT_DOMAIN, DEFAULT_TAG, LEGACY_DEFAULT_DOMAIN, NAME_TOTAL_LENGTH_MAX, OFFICIAL_REPO_PREFIX, TAG_LENGTH_MAX,
  familiarName, familiarString, formatReference, isValidDomain, isValidTag, parseAnyReference,
  parseDockerReference, parseNormalizedReference, parseReference, repositoryOf, withDefaultTag, withDigest, withTag,
} from './grammar/reference.js';

// Platforms (containerd matcher).
export {
  allPlatforms, anyPlatform, compatiblePlatforms, defaultPlatformMatcher, formatNormalizedPlatform, formatPlatform,
  hostPlatform, normalizePlatform, onlyPlatform, onlyStrictPlatform, orderedPlatforms, parsePlatform,
  selectPlatformEntry,
} from './matching/platforms.js';

// Validation of untrusted JSON (ajv).
export {
  checkManifestConfig, parseDistributionErrorBody, parseImageConfig, parseImageJson, parseIndex, parseJson, parseManifest,
  parseOciLayout, parseRuntimeSpec, validateDescriptor, validateDockerManifest, validateDockerManifestList,
  validateImageConfig, validateImageIndex, validateImageManifest, validateOciLayout, validateRuntimeSpec,
} from './ajv/validate.js';

// Runtime spec generation (Docker defaults + with… options).
export {
  ALL_CAPABILITIES, DEFAULT_CAPABILITIES, DEFAULT_MASKED_PATHS, DEFAULT_PATH_ENV, DEFAULT_READONLY_PATHS,
  DEFAULT_SHM_SIZE, applySpecOpts, defaultDeviceRules, defaultMounts, defaultSpec, generateSpec,
} from './spec/defaults.js';
export {
  DEFAULT_CPU_PERIOD, mergeEnv, withAddedCapabilities, withAnnotations, withApparmorProfile, withArgs,
  withCapabilities, withCgroupsPath, withCpuQuota, withCpuShares, withCpus, withCpuset, withCwd, withDomainname,
  withDroppedCapabilities, withEnv, withHook, withHostname, withImageConfig, withMemoryLimit, withMount, withMounts, withNamespace,
  withNamespaces, withNoNewPrivileges, withOomScoreAdj, withPidsLimit, withPrivileged, withReadonlyRootfs,
  withRlimits, withRootfs, withSeccomp, withSeccompUnconfined, withShmSize, withSysctl, withTty, withUser,
  withUserNamespace, withoutNamespace,
} from './spec/opts.js';
export type { UserSpec } from './spec/opts.js';
export { DOCKER_DEFAULT_SECCOMP, resolveSeccompProfile, withDefaultSeccomp } from './spec/default-seccomp.js';
export type { SeccompResolveOptions, SeccompTemplate, SeccompTemplateRule } from './spec/default-seccomp.js';
export { resolveUser } from './spec/user.js';
export type { ExecUser, UserDatabase } from './spec/user.js';
