/**
 * Validation of untrusted JSON with ajv validators compiled ahead of time
 * (`compiled/`), each loaded on first use. Failures become `OciValidationError`s whose `path`
 * is a JSON pointer to the offending value (`/layers/0/digest`).
 */
import { isUtf8 } from 'node:buffer';
import { createRequire } from 'node:module';
import type { Ajv, ErrorObject, ValidateFunction } from 'ajv';
import type { Descriptor } from '../descriptor.js';
import type { DistributionErrorBody } from '../distribution.js';
import type { DockerManifest, DockerManifestList } from '../docker.js';
import {
  InvalidJsonError, MediaTypeMismatchError, OciValidationError, UnsupportedMediaTypeError,
  ValidatedDocument, type ValidationIssue,
} from '../errors.js';
import type { ImageConfig, ImageIndex, ImageManifest, OciLayout } from '../image.js';
import { DockerMediaType, OciMediaType, isConfigMediaType, isIndexMediaType, isManifestMediaType } from '../media-types.js';
import type { RuntimeSpec } from '../runtime-spec.js';
import type { JsonInput, ParsedConfig, ParsedImageJson, ParsedIndex, ParsedManifest } from '../validation.js';
import { ajvOptions, compiledFileName, compiledSchemaNames, type CompiledSchemaName } from './generate.js';
import * as schemas from './schemas.js';
import {
  descriptorSchema, distributionErrorBodySchema, dockerManifestListSchema, dockerManifestSchema,
  imageConfigSchema, imageIndexSchema, imageManifestSchema, ociLayoutSchema, runtimeSpecSchema,
} from './schemas.js';

let ajv: Ajv | undefined;
const requireCjs = createRequire(import.meta.url);
const compiled = new Map<object, ValidateFunction>();
const precompiled = new Map<object, CompiledSchemaName>(compiledSchemaNames.map((name) => [schemas[name], name]));

/**
 * The validate function of `schema`, loaded on first use: the package's
 * schemas come precompiled (`compiled/*.cts`, see `generate.ts`), so
 * importing this package loads no validator and validating loads only the
 * one it needs, never ajv itself; any other schema is compiled by ajv.
 */
function compile(schema: object): ValidateFunction {
  let fn = compiled.get(schema);
  if (fn === undefined) {
    const name = precompiled.get(schema);
    if (name !== undefined) {
      fn = (requireCjs(`./compiled/${compiledFileName(name).replace(/\.cts$/, '.cjs')}`) as { validate: ValidateFunction }).validate;
    } else {
      const { Ajv: AjvClass } = requireCjs('ajv') as typeof import('ajv');
      ajv ??= new AjvClass(ajvOptions);
      fn = ajv.compile(schema);
    }
    compiled.set(schema, fn);
  }
  return fn;
}

function issueOf(e: ErrorObject): ValidationIssue {
  let path = e.instancePath;
  let message = e.message ?? 'is invalid';
  if (e.keyword === 'required') {
    const missing = String((e.params as { missingProperty?: string }).missingProperty);
    path = `${path}/${missing.replace(/~/g, '~0').replace(/\//g, '~1')}`;
    message = 'is required';
  } else if (e.keyword === 'const') {
    message = `must be ${JSON.stringify((e.params as { allowedValue?: unknown }).allowedValue)}`;
  } else if (e.keyword === 'enum') {
    message = `must be one of ${JSON.stringify((e.params as { allowedValues?: unknown }).allowedValues)}`;
  }
  return { path, message, keyword: e.keyword };
}

function check<T>(schema: object, document: ValidatedDocument, value: unknown): T {
  const fn = compile(schema);
  if (!fn(value)) throw new OciValidationError(document, (fn.errors ?? []).map(issueOf));
  return value as T;
}


/**
 * Parses JSON bytes (UTF-8, BOM rejected) or a string.
 * @throws InvalidJsonError `ERR_OCI_INVALID_JSON`.
 */
export function parseJson(input: JsonInput, what = 'document'): unknown {
  try {
    if (typeof input === 'string') return JSON.parse(input);
    // Reject invalid UTF-8 instead of letting it become U+FFFD.
    if (!isUtf8(input)) throw new SyntaxError('invalid UTF-8');
    const buf = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
    // A byte order mark is not JSON (RFC 8259 §8.1): JSON.parse rejects it too.
    return JSON.parse(buf.toString('utf8'));
  } catch (e) {
    throw new InvalidJsonError(what, { cause: e });
  }
}

/** Validates an OCI image manifest. @throws OciValidationError `ERR_OCI_INVALID_MANIFEST`. */
export function validateImageManifest(value: unknown): ImageManifest {
  return check<ImageManifest>(imageManifestSchema, ValidatedDocument.Manifest, value);
}

/** Validates a Docker schema 2 manifest. @throws OciValidationError `ERR_OCI_INVALID_MANIFEST`. */
export function validateDockerManifest(value: unknown): DockerManifest {
  return check<DockerManifest>(dockerManifestSchema, ValidatedDocument.Manifest, value);
}

/** Validates an OCI image index (or a layout's `index.json`). @throws OciValidationError `ERR_OCI_INVALID_INDEX`. */
export function validateImageIndex(value: unknown): ImageIndex {
  return check<ImageIndex>(imageIndexSchema, ValidatedDocument.Index, value);
}

/** Validates a Docker manifest list. @throws OciValidationError `ERR_OCI_INVALID_INDEX`. */
export function validateDockerManifestList(value: unknown): DockerManifestList {
  return check<DockerManifestList>(dockerManifestListSchema, ValidatedDocument.Index, value);
}

/** Validates an image config (OCI or Docker). @throws OciValidationError `ERR_OCI_INVALID_CONFIG`. */
export function validateImageConfig(value: unknown): ImageConfig {
  return check<ImageConfig>(imageConfigSchema, ValidatedDocument.Config, value);
}

/** Validates a runtime-spec `config.json`. @throws OciValidationError `ERR_OCI_INVALID_RUNTIME_CONFIG`. */
export function validateRuntimeSpec(value: unknown): RuntimeSpec {
  return check<RuntimeSpec>(runtimeSpecSchema, ValidatedDocument.RuntimeConfig, value);
}

/** Validates a content descriptor. @throws OciValidationError `ERR_OCI_INVALID_DESCRIPTOR`. */
export function validateDescriptor(value: unknown): Descriptor {
  return check<Descriptor>(descriptorSchema, ValidatedDocument.Descriptor, value);
}

/** Validates an `oci-layout` file's content. @throws OciValidationError `ERR_OCI_INVALID_LAYOUT`. */
export function validateOciLayout(value: unknown): OciLayout {
  return check<OciLayout>(ociLayoutSchema, ValidatedDocument.Layout, value);
}

// Content-Type values that say nothing about which image document it is.
const genericTypes = new Set(['', 'application/json', 'application/octet-stream', 'text/plain']);

/** Strips parameters (`; charset=utf-8`) and lowercases a Content-Type. */
function bareMediaType(t: string | undefined): string {
  return (t ?? '').split(';')[0]!.trim().toLowerCase();
}

/**
 * Works out a document's media type: its own `mediaType` field, checked
 * against the expected one when both are specific; else the expected one;
 * else a guess from its shape (`manifests` → index, `config`+`layers` → manifest).
 */
function resolveMediaType(doc: Record<string, unknown>, expected: string | undefined): string {
  const declared = typeof doc.mediaType === 'string' ? doc.mediaType : undefined;
  const want = bareMediaType(expected);
  if (declared !== undefined) {
    if (!genericTypes.has(want) && want !== declared) throw new MediaTypeMismatchError(want, declared);
    return declared;
  }
  if (!genericTypes.has(want)) return want;
  if (doc.schemaVersion === 1) return DockerMediaType.ManifestV1;
  if (Array.isArray(doc.manifests)) return OciMediaType.ImageIndex;
  if ('config' in doc && 'layers' in doc) return OciMediaType.ImageManifest;
  if ('rootfs' in doc) return OciMediaType.ImageConfig;
  return '';
}

function asObject(value: unknown, document: ValidatedDocument): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new OciValidationError(document, [{ path: '', message: 'must be object', keyword: 'type' }]);
  }
  return value as Record<string, unknown>;
}

function dispatch(doc: Record<string, unknown>, mediaType: string, context: string): ParsedImageJson {
  switch (mediaType) {
    case OciMediaType.ImageManifest:
      return { kind: 'manifest', mediaType, value: validateImageManifest(doc) };
    case DockerMediaType.Manifest:
      return { kind: 'manifest', mediaType, value: validateDockerManifest(doc) };
    case OciMediaType.ImageIndex:
      return { kind: 'index', mediaType, value: validateImageIndex(doc) };
    case DockerMediaType.ManifestList:
      return { kind: 'index', mediaType, value: validateDockerManifestList(doc) };
    case OciMediaType.ImageConfig: case DockerMediaType.ImageConfig:
      return { kind: 'config', mediaType, value: validateImageConfig(doc) };
    default:
      throw new UnsupportedMediaTypeError(mediaType, context);
  }
}

/**
 * Parses and validates an image manifest (OCI or Docker schema 2).
 *
 * `expectedMediaType` is what the document was served or referenced as (an
 * HTTP Content-Type or a descriptor's `mediaType`); when both it and the
 * document's `mediaType` field are specific they must agree.
 *
 * @throws InvalidJsonError `ERR_OCI_INVALID_JSON`
 * @throws OciValidationError `ERR_OCI_INVALID_MANIFEST`
 * @throws MediaTypeMismatchError `ERR_OCI_MEDIA_TYPE_MISMATCH`
 * @throws UnsupportedMediaTypeError `ERR_OCI_UNSUPPORTED_MEDIA_TYPE` (indexes, schema 1, artifacts' unknown types)
 */
export function parseManifest(input: JsonInput, expectedMediaType?: string): ParsedManifest {
  const doc = asObject(parseJson(input, 'image manifest'), ValidatedDocument.Manifest);
  const mediaType = resolveMediaType(doc, expectedMediaType);
  if (!isManifestMediaType(mediaType)) throw new UnsupportedMediaTypeError(mediaType, 'image manifest');
  return dispatch(doc, mediaType, 'image manifest') as ParsedManifest;
}

/**
 * Parses and validates an index (OCI image index or Docker manifest list),
 * with the same media type rules as {@link parseManifest}.
 * @throws OciValidationError `ERR_OCI_INVALID_INDEX`, and the errors of {@link parseManifest}.
 */
export function parseIndex(input: JsonInput, expectedMediaType?: string): ParsedIndex {
  const doc = asObject(parseJson(input, 'image index'), ValidatedDocument.Index);
  const mediaType = resolveMediaType(doc, expectedMediaType);
  if (!isIndexMediaType(mediaType)) throw new UnsupportedMediaTypeError(mediaType, 'image index');
  return dispatch(doc, mediaType, 'image index') as ParsedIndex;
}

/**
 * Parses and validates an image config. `mediaType` is the config
 * descriptor's (OCI or Docker); other config types (artifacts) are refused.
 * @throws OciValidationError `ERR_OCI_INVALID_CONFIG`; InvalidJsonError; UnsupportedMediaTypeError.
 */
export function parseImageConfig(input: JsonInput, mediaType: string = OciMediaType.ImageConfig): ParsedConfig {
  if (!isConfigMediaType(mediaType)) throw new UnsupportedMediaTypeError(mediaType, 'image config');
  const doc = asObject(parseJson(input, 'image config'), ValidatedDocument.Config);
  return dispatch(doc, mediaType, 'image config') as ParsedConfig;
}

/**
 * Parses and validates any image document, dispatching on its media type
 * (its `mediaType` field, else `expectedMediaType`, else its shape).
 * An image config is recognised by `expectedMediaType` or by having `rootfs`.
 */
export function parseImageJson(input: JsonInput, expectedMediaType?: string): ParsedImageJson {
  const value = parseJson(input, 'image document');
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new UnsupportedMediaTypeError('', 'image document (not a JSON object)');
  }
  const doc = value as Record<string, unknown>;
  return dispatch(doc, resolveMediaType(doc, expectedMediaType), 'image document');
}

/**
 * Parses and validates a runtime-spec `config.json`.
 * @throws InvalidJsonError `ERR_OCI_INVALID_JSON`; OciValidationError `ERR_OCI_INVALID_RUNTIME_CONFIG`.
 */
export function parseRuntimeSpec(input: JsonInput): RuntimeSpec {
  return validateRuntimeSpec(parseJson(input, 'runtime config'));
}

/**
 * Parses and validates an `oci-layout` file.
 * @throws InvalidJsonError `ERR_OCI_INVALID_JSON`; OciValidationError `ERR_OCI_INVALID_LAYOUT`.
 */
export function parseOciLayout(input: JsonInput): OciLayout {
  return validateOciLayout(parseJson(input, 'oci-layout'));
}

/**
 * Reads a registry error body leniently: the parsed body when it has the
 * distribution-spec shape, else undefined (registries also send HTML and empty bodies).
 */
export function parseDistributionErrorBody(input: JsonInput): DistributionErrorBody | undefined {
  let value: unknown;
  try {
    value = parseJson(input, 'registry error body');
  } catch {
    return undefined;
  }
  return compile(distributionErrorBodySchema)(value) ? value as DistributionErrorBody : undefined;
}

/**
 * Checks that a manifest and its config agree, beyond each one's schema
 * (go-containerregistry `validate`): one diff id per layer, and, when the
 * config has a history, one non-empty history entry per layer.
 *
 * @throws OciValidationError `ERR_OCI_INVALID_CONFIG`, with `path` in the config.
 */
export function checkManifestConfig(manifest: { layers: readonly unknown[] }, config: ImageConfig): void {
  const layers = manifest.layers.length;
  const diffIds = config.rootfs.diff_ids.length;
  if (diffIds !== layers) {
    throw new OciValidationError(ValidatedDocument.Config, [{
      path: '/rootfs/diff_ids', keyword: 'consistency', message: `has ${diffIds} entries for ${layers} layers`,
    }]);
  }
  if (config.history !== undefined && config.history.length > 0) {
    const nonEmpty = config.history.filter((h) => h.empty_layer !== true).length;
    if (nonEmpty !== layers) {
      throw new OciValidationError(ValidatedDocument.Config, [{
        path: '/history', keyword: 'consistency', message: `has ${nonEmpty} non-empty entries for ${layers} layers`,
      }]);
    }
  }
}
