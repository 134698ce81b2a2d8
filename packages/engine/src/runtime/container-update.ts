/**
 * `docker update`: new resource limits for a container, written to its
 * cgroup at once when it runs and to its record (`HostConfig`) so the next
 * start uses them (moby daemon/update.go). As in Docker, a field left
 * undefined (or 0, for the byte and CPU counts) is unchanged; `pidsLimit`
 * 0 or -1 means unlimited.
 */
import os from 'node:os';
import type { LinuxResources } from '@berth/oci-spec';
import type { ContainerRecord, HostConfig } from '../container.js';
import { InvalidArgumentError } from '../errors.js';

/** What `docker update` can change (`container.UpdateConfig`, the fields berth applies). */
export interface ContainerUpdate {
  /** Memory limit in bytes (`--memory`); at least 6 MiB. */
  memory?: number;
  /** Memory + swap in bytes (`--memory-swap`); -1 unlimited. */
  memorySwap?: number;
  /** Soft limit in bytes (`--memory-reservation`). */
  memoryReservation?: number;
  /** CPUs in units of 1e-9 (`--cpus 1.5` → 1.5e9). */
  nanoCpus?: number;
  /** Relative weight (`--cpu-shares`). */
  cpuShares?: number;
  /** CFS quota in µs (`--cpu-quota`). */
  cpuQuota?: number;
  /** CFS period in µs (`--cpu-period`). */
  cpuPeriod?: number;
  /** `--cpuset-cpus`. */
  cpusetCpus?: string;
  /** `--cpuset-mems`. */
  cpusetMems?: string;
  /** `--pids-limit`; 0 or -1 is unlimited. */
  pidsLimit?: number;
  /** `--restart`. */
  restartPolicy?: { Name: string; MaximumRetryCount: number };
}

/** The period Docker uses for `--cpus`. */
const cpuPeriod = 100_000;
/** Docker's minimum memory limit (daemon/daemon_unix.go linuxMinMemory). */
const minMemory = 6 * 1024 * 1024;

/** Checks `u` against the container's current settings; throws `ERR_ENGINE_INVALID_ARGUMENT` as dockerd refuses. */
export function validateUpdate(r: ContainerRecord, u: ContainerUpdate): void {
  if (u.memory && u.memory > 0 && u.memory < minMemory) throw new InvalidArgumentError('memory', String(u.memory), 'minimum memory limit allowed is 6MB');
  if (u.nanoCpus && (u.cpuQuota || u.cpuPeriod)) {
    throw new InvalidArgumentError('cpus', String(u.nanoCpus / 1e9), 'conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set');
  }
  if (u.nanoCpus && (r.HostConfig.CpuQuota as number | undefined)) {
    throw new InvalidArgumentError('cpus', String(u.nanoCpus / 1e9), 'conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set');
  }
  if (u.nanoCpus && (u.nanoCpus < 0.01e9 || u.nanoCpus > os.availableParallelism() * 1e9)) {
    throw new InvalidArgumentError('cpus', String(u.nanoCpus / 1e9), `range of CPUs is from 0.01 to ${os.availableParallelism()}.00, as there are only ${os.availableParallelism()} CPUs available`);
  }
  const mem = u.memory || (r.HostConfig.Memory ?? 0);
  const swap = u.memorySwap || (r.HostConfig.MemorySwap as number | undefined) || 0;
  if (mem > 0 && swap > 0 && swap < mem) {
    throw new InvalidArgumentError('memory', String(mem), 'memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time');
  }
  if (u.cpuShares !== undefined && u.cpuShares !== 0 && (u.cpuShares < 2 || u.cpuShares > 262144)) {
    throw new InvalidArgumentError('cpu-shares', String(u.cpuShares), 'must be in 2…262144');
  }
}

/** The OCI resources to write to a running container's cgroup for `u` (only what changes). */
export function updateResources(u: ContainerUpdate): LinuxResources {
  const res: LinuxResources = {};
  if (u.memory || u.memorySwap || u.memoryReservation) {
    res.memory = {
      ...(u.memory ? { limit: u.memory } : {}),
      ...(u.memorySwap ? { swap: u.memorySwap } : {}),
      ...(u.memoryReservation ? { reservation: u.memoryReservation } : {}),
    };
  }
  const cpu: NonNullable<LinuxResources['cpu']> = {};
  if (u.nanoCpus) Object.assign(cpu, { quota: Math.round((u.nanoCpus * cpuPeriod) / 1e9), period: cpuPeriod });
  if (u.cpuQuota) cpu.quota = u.cpuQuota;
  if (u.cpuPeriod) cpu.period = u.cpuPeriod;
  if (u.cpuShares) cpu.shares = u.cpuShares;
  if (u.cpusetCpus) cpu.cpus = u.cpusetCpus;
  if (u.cpusetMems) cpu.mems = u.cpusetMems;
  if (Object.keys(cpu).length) res.cpu = cpu;
  if (u.pidsLimit !== undefined) res.pids = { limit: u.pidsLimit > 0 ? u.pidsLimit : 0 };
  return res;
}

/** Applies `u` to a record's `HostConfig` (what `docker inspect` shows after the update). */
export function applyUpdateToHostConfig(hc: HostConfig, u: ContainerUpdate): void {
  if (u.memory) hc.Memory = u.memory;
  if (u.memorySwap) hc.MemorySwap = u.memorySwap;
  if (u.memoryReservation) hc.MemoryReservation = u.memoryReservation;
  if (u.nanoCpus) hc.NanoCpus = u.nanoCpus;
  if (u.cpuQuota) hc.CpuQuota = u.cpuQuota;
  if (u.cpuPeriod) hc.CpuPeriod = u.cpuPeriod;
  if (u.cpuShares) hc.CpuShares = u.cpuShares;
  if (u.cpusetCpus) hc.CpusetCpus = u.cpusetCpus;
  if (u.cpusetMems) hc.CpusetMems = u.cpusetMems;
  if (u.pidsLimit !== undefined) hc.PidsLimit = u.pidsLimit > 0 ? u.pidsLimit : null;
  if (u.restartPolicy) hc.RestartPolicy = u.restartPolicy;
}

/** The {@link ContainerUpdate} in a `POST /containers/{id}/update` body (Docker's field names). */
export function updateFromApi(b: Record<string, unknown>): ContainerUpdate {
  const n = (k: string) => (typeof b[k] === 'number' && b[k] !== 0 ? (b[k] as number) : undefined);
  const s = (k: string) => (typeof b[k] === 'string' && b[k] ? (b[k] as string) : undefined);
  const rp = b.RestartPolicy as { Name?: string; MaximumRetryCount?: number } | undefined;
  return {
    memory: n('Memory'), memorySwap: n('MemorySwap'), memoryReservation: n('MemoryReservation'), nanoCpus: n('NanoCpus'),
    cpuShares: n('CpuShares'), cpuQuota: n('CpuQuota'), cpuPeriod: n('CpuPeriod'), cpusetCpus: s('CpusetCpus'), cpusetMems: s('CpusetMems'),
    pidsLimit: typeof b.PidsLimit === 'number' ? b.PidsLimit : undefined,
    restartPolicy: rp?.Name ? { Name: rp.Name, MaximumRetryCount: rp.MaximumRetryCount ?? 0 } : undefined,
  };
}
