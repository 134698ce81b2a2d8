/**
 * The engine's typed errors. Every class extends {@link BerthError} from
 * `@berth/oci-spec`, fixes a `code` (`ERR_ENGINE_…`) and a `kind`, and builds
 * its message from structured fields. The Docker Engine API maps `kind` to an
 * HTTP status in one function, `httpStatusForError` (src/api/status.ts).
 */
import { BerthError, ErrorKind, type BerthErrorOptions } from '@berth/oci-spec';

/** The codes the engine throws, as a constant object. */
export const EngineErrorCode = {
  ContainerNotFound: 'ERR_ENGINE_CONTAINER_NOT_FOUND',
  ContainerNotRunning: 'ERR_ENGINE_CONTAINER_NOT_RUNNING',
  AmbiguousId: 'ERR_ENGINE_AMBIGUOUS_ID',
  NameInUse: 'ERR_ENGINE_NAME_IN_USE',
  InvalidName: 'ERR_ENGINE_INVALID_NAME',
  StateCorrupt: 'ERR_ENGINE_STATE_CORRUPT',
  VolumeNotFound: 'ERR_ENGINE_VOLUME_NOT_FOUND',
  VolumeInUse: 'ERR_ENGINE_VOLUME_IN_USE',
  VolumeMount: 'ERR_ENGINE_VOLUME_MOUNT',
  InvalidMount: 'ERR_ENGINE_INVALID_MOUNT',
  InvalidPort: 'ERR_ENGINE_INVALID_PORT',
  PortAllocated: 'ERR_ENGINE_PORT_ALLOCATED',
  NetworkNotFound: 'ERR_ENGINE_NETWORK_NOT_FOUND',
  NetworkExists: 'ERR_ENGINE_NETWORK_EXISTS',
  NetworkInUse: 'ERR_ENGINE_NETWORK_IN_USE',
  NetworkPredefined: 'ERR_ENGINE_NETWORK_PREDEFINED',
  SubnetExhausted: 'ERR_ENGINE_SUBNET_EXHAUSTED',
  AlreadyConnected: 'ERR_ENGINE_ALREADY_CONNECTED',
  NotConnected: 'ERR_ENGINE_NOT_CONNECTED',
  CniPlugin: 'ERR_ENGINE_CNI_PLUGIN',
  Netns: 'ERR_ENGINE_NETNS',
  LogNotFound: 'ERR_ENGINE_LOG_NOT_FOUND',
  InvalidArgument: 'ERR_ENGINE_INVALID_ARGUMENT',
  InvalidFilter: 'ERR_ENGINE_INVALID_FILTER',
  InvalidTime: 'ERR_ENGINE_INVALID_TIME',
  NotImplemented: 'ERR_ENGINE_NOT_IMPLEMENTED',
  Closed: 'ERR_ENGINE_CLOSED',
  Command: 'ERR_ENGINE_COMMAND',
  NoTty: 'ERR_ENGINE_NO_TTY',
  ExecNotFound: 'ERR_ENGINE_EXEC_NOT_FOUND',
  PathNotFound: 'ERR_ENGINE_PATH_NOT_FOUND',
} as const;

/** One of the values of {@link EngineErrorCode}. */
export type EngineErrorCode = (typeof EngineErrorCode)[keyof typeof EngineErrorCode];

/** The base class of the engine's errors; `code` is one of {@link EngineErrorCode}. */
export class EngineError extends BerthError {
  declare readonly code: EngineErrorCode;
  constructor(code: EngineErrorCode, kind: ErrorKind, message: string, options: BerthErrorOptions = {}) {
    super(code, kind, message, options);
  }
}

/** No container has this id, id prefix or name. */
export class ContainerNotFoundError extends EngineError {
  constructor(ref: string, options: BerthErrorOptions = {}) {
    super(EngineErrorCode.ContainerNotFound, ErrorKind.NotFound, `container ${JSON.stringify(ref)} not found`,
      { ...options, details: { ref, ...options.details } });
  }
}

/** The operation needs a running container (e.g. `--network container:<id>` on a stopped one). */
export class ContainerNotRunningError extends EngineError {
  constructor(ref: string, why: string) {
    super(EngineErrorCode.ContainerNotRunning, ErrorKind.FailedPrecondition, `container ${JSON.stringify(ref)} is not running: ${why}`,
      { details: { ref, why } });
  }
}

/** An id prefix matches more than one container (docker: "multiple IDs found with provided prefix"). */
export class AmbiguousIdError extends EngineError {
  constructor(prefix: string, matches: readonly string[]) {
    super(EngineErrorCode.AmbiguousId, ErrorKind.InvalidArgument,
      `id prefix ${JSON.stringify(prefix)} is ambiguous: ${matches.length} containers match`, { details: { prefix, matches } });
  }
}

/** A published host port is taken by another container that runs or is starting (Docker: "port is already allocated"). */
export class PortAllocatedError extends EngineError {
  constructor(protocol: string, port: number, id: string) {
    super(EngineErrorCode.PortAllocated, ErrorKind.AlreadyExists,
      `host port ${port}/${protocol} is already allocated to container ${JSON.stringify(id)}`, { details: { protocol, port, id } });
  }
}

/** A container name is already taken. */
export class NameInUseError extends EngineError {
  constructor(name: string, id: string) {
    super(EngineErrorCode.NameInUse, ErrorKind.AlreadyExists,
      `container name "/${name}" is already in use by container ${JSON.stringify(id)}`, { details: { name, id } });
  }
}

/** A container or volume name does not match `[a-zA-Z0-9][a-zA-Z0-9_.-]*`. */
export class InvalidNameError extends EngineError {
  constructor(what: string, name: string) {
    super(EngineErrorCode.InvalidName, ErrorKind.InvalidArgument,
      `invalid ${what} name ${JSON.stringify(name)}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`, { details: { what, name } });
  }
}

/** A state file on disk cannot be parsed. */
export class StateCorruptError extends EngineError {
  constructor(path: string, options: BerthErrorOptions = {}) {
    super(EngineErrorCode.StateCorrupt, ErrorKind.DataLoss, `state file ${JSON.stringify(path)} is corrupt`,
      { ...options, details: { path, ...options.details } });
  }
}

/** No volume has this name. */
export class VolumeNotFoundError extends EngineError {
  constructor(name: string) {
    super(EngineErrorCode.VolumeNotFound, ErrorKind.NotFound, `volume ${JSON.stringify(name)} not found`, { details: { name } });
  }
}

/** A volume is referenced by containers and cannot be removed. */
export class VolumeInUseError extends EngineError {
  constructor(name: string, containers: readonly string[]) {
    super(EngineErrorCode.VolumeInUse, ErrorKind.FailedPrecondition,
      `volume ${JSON.stringify(name)} is in use by ${containers.length} container(s)`, { details: { name, containers } });
  }
}

/** Mounting or unmounting a volume with driver options failed. */
export class VolumeMountError extends EngineError {
  constructor(name: string, options: BerthErrorOptions = {}) {
    super(EngineErrorCode.VolumeMount, ErrorKind.Internal, `volume ${JSON.stringify(name)}: mount failed`,
      { ...options, details: { name, ...options.details } });
  }
}

/** A `-v`, `--mount` or `--tmpfs` specification is malformed. */
export class InvalidMountError extends EngineError {
  constructor(spec: string, reason: string) {
    super(EngineErrorCode.InvalidMount, ErrorKind.InvalidArgument, `invalid mount ${JSON.stringify(spec)}: ${reason}`,
      { details: { spec, reason } });
  }
}

/** A `-p` specification is malformed. */
export class InvalidPortError extends EngineError {
  constructor(spec: string, reason: string) {
    super(EngineErrorCode.InvalidPort, ErrorKind.InvalidArgument, `invalid port ${JSON.stringify(spec)}: ${reason}`,
      { details: { spec, reason } });
  }
}

/** No network has this name, id or id prefix. */
export class NetworkNotFoundError extends EngineError {
  constructor(ref: string) {
    super(EngineErrorCode.NetworkNotFound, ErrorKind.NotFound, `network ${JSON.stringify(ref)} not found`, { details: { ref } });
  }
}

/** A network with this name exists already. */
export class NetworkExistsError extends EngineError {
  constructor(name: string) {
    super(EngineErrorCode.NetworkExists, ErrorKind.AlreadyExists, `network with name ${JSON.stringify(name)} already exists`,
      { details: { name } });
  }
}

/** A network still has endpoints and cannot be removed. */
export class NetworkInUseError extends EngineError {
  constructor(name: string, containers: readonly string[]) {
    super(EngineErrorCode.NetworkInUse, ErrorKind.FailedPrecondition,
      `network ${JSON.stringify(name)} has ${containers.length} active endpoint(s)`, { details: { name, containers } });
  }
}

/** `bridge`, `host` and `none` cannot be created or removed. */
export class NetworkPredefinedError extends EngineError {
  constructor(name: string) {
    super(EngineErrorCode.NetworkPredefined, ErrorKind.FailedPrecondition,
      `network ${JSON.stringify(name)} is a pre-defined network and cannot be created or removed`, { details: { name } });
  }
}

/** No free subnet is left in the pool for a new network. */
export class SubnetExhaustedError extends EngineError {
  constructor(pool: string) {
    super(EngineErrorCode.SubnetExhausted, ErrorKind.Unavailable, `no free subnet left in pool ${pool}`, { details: { pool } });
  }
}

/** The container is already attached to the network. */
export class AlreadyConnectedError extends EngineError {
  constructor(network: string, container: string) {
    super(EngineErrorCode.AlreadyConnected, ErrorKind.AlreadyExists,
      `container ${JSON.stringify(container)} is already connected to network ${JSON.stringify(network)}`, { details: { network, container } });
  }
}

/** The container is not attached to the network. */
export class NotConnectedError extends EngineError {
  constructor(network: string, container: string) {
    super(EngineErrorCode.NotConnected, ErrorKind.FailedPrecondition,
      `container ${JSON.stringify(container)} is not connected to network ${JSON.stringify(network)}`, { details: { network, container } });
  }
}

/** A CNI plugin failed; `details` has the plugin, command and the CNI error (code, msg, details). */
export class CniPluginError extends EngineError {
  constructor(plugin: string, command: string, cniCode: number | undefined, cniMsg: string, options: BerthErrorOptions = {}) {
    super(EngineErrorCode.CniPlugin, ErrorKind.Internal, `cni plugin ${plugin} ${command} failed: ${cniMsg}`,
      { ...options, details: { plugin, command, cniCode, cniMsg, ...options.details } });
  }
}

/** Creating or removing a network namespace failed. */
export class NetnsError extends EngineError {
  constructor(path: string, op: string, options: BerthErrorOptions = {}) {
    super(EngineErrorCode.Netns, ErrorKind.Internal, `netns ${JSON.stringify(path)}: ${op} failed`,
      { ...options, details: { path, op, ...options.details } });
  }
}

/** A container has no json-file log. */
export class LogNotFoundError extends EngineError {
  constructor(path: string) {
    super(EngineErrorCode.LogNotFound, ErrorKind.NotFound, `log file ${JSON.stringify(path)} not found`, { details: { path } });
  }
}

/** A generic bad option value (`field` names the option). */
export class InvalidArgumentError extends EngineError {
  constructor(field: string, value: unknown, reason: string) {
    super(EngineErrorCode.InvalidArgument, ErrorKind.InvalidArgument, `invalid ${field} ${JSON.stringify(value)}: ${reason}`,
      { details: { field, value, reason } });
  }
}

/** A list filter (`--filter key=value`) is unknown or malformed. */
export class InvalidFilterError extends EngineError {
  constructor(filter: string, reason: string) {
    super(EngineErrorCode.InvalidFilter, ErrorKind.InvalidArgument, `invalid filter ${JSON.stringify(filter)}: ${reason}`,
      { details: { filter, reason } });
  }
}

/** A `since`/`until` timestamp cannot be parsed. */
export class InvalidTimeError extends EngineError {
  constructor(value: string) {
    super(EngineErrorCode.InvalidTime, ErrorKind.InvalidArgument, `invalid timestamp ${JSON.stringify(value)}`, { details: { value } });
  }
}

/**
 * The operation needs a subsystem that is not wired into the engine yet
 * (images, container runtime, registry, snapshotter). Never faked.
 */
export class NotImplementedError extends EngineError {
  constructor(operation: string, needs: string) {
    super(EngineErrorCode.NotImplemented, ErrorKind.NotImplemented,
      `${operation} is not wired yet: it needs ${needs}`, { details: { operation, needs } });
  }
}

/** The engine or a subsystem was used after `close()`. */
export class ClosedError extends EngineError {
  constructor(what: string) {
    super(EngineErrorCode.Closed, ErrorKind.FailedPrecondition, `${what} is closed`, { details: { what } });
  }
}

/** A host helper command (`ip`, `mount`, `unshare`, `iptables`) failed. */
export class CommandError extends EngineError {
  constructor(command: string, args: readonly string[], exitCode: number | null, stderr: string, options: BerthErrorOptions = {}) {
    super(EngineErrorCode.Command, ErrorKind.Internal, `${command} exited with ${exitCode}: ${stderr.trim().slice(0, 500)}`,
      { ...options, details: { command, args, exitCode, stderr, ...options.details } });
  }
}

/** A pty operation (resize) on a container or exec instance that has no TTY. */
export class NoTtyError extends EngineError {
  constructor(ref: string) {
    super(EngineErrorCode.NoTty, ErrorKind.FailedPrecondition, `${JSON.stringify(ref)} has no TTY: it was not created with one`, { details: { ref } });
  }
}

/** No exec instance with that id (Docker: "No such exec instance"). */
export class ExecNotFoundError extends EngineError {
  constructor(id: string) {
    super(EngineErrorCode.ExecNotFound, ErrorKind.NotFound, `exec instance ${JSON.stringify(id)} not found`, { details: { id } });
  }
}

/** A path does not exist in a container's filesystem (`docker cp`, `HEAD /containers/{id}/archive`). */
export class ContainerPathNotFoundError extends EngineError {
  constructor(container: string, path: string, options: BerthErrorOptions = {}) {
    super(EngineErrorCode.PathNotFound, ErrorKind.NotFound, `container ${JSON.stringify(container)}: path ${JSON.stringify(path)} not found`,
      { ...options, details: { container, path } });
  }
}
