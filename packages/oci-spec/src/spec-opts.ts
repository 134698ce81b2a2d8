/**
 * The runtime spec option contract: `with…` functions that edit a spec in
 * place, applied in order after the defaults (containerd `pkg/oci/spec_opts.go`).
 */
import type { RuntimeSpec } from './runtime-spec.js';

/**
 * One step of spec generation. It edits `spec` in place and may throw
 * `InvalidSpecOptionError` (`ERR_OCI_INVALID_SPEC_OPTION`) for unusable arguments.
 */
export type SpecOpt = (spec: RuntimeSpec) => void;
