/**
 * Parsing of docker's mount flags into {@link MountRequest}s, and their
 * conversion to OCI runtime-spec mounts.
 *
 * - `-v [SRC:]DST[:OPTS]`: SRC absolute or `.`-relative → bind, other SRC →
 *   named volume, no SRC → anonymous volume; OPTS: ro, rw, z, Z, nocopy,
 *   [r]shared, [r]slave, [r]private, consistent, cached, delegated.
 * - `--mount type=bind|volume|tmpfs,source=…,target=…,readonly,…`.
 * - `--tmpfs DST[:OPTS]`.
 */
import path from 'node:path';
import { InvalidMountError } from '../errors.js';
import type { MountRequest, OciMount } from '../mount-request.js';

const propagations = new Set(['shared', 'rshared', 'slave', 'rslave', 'private', 'rprivate']);

function absTarget(spec: string, target: string): string {
  if (!target) throw new InvalidMountError(spec, 'destination is empty');
  if (!path.isAbsolute(target)) throw new InvalidMountError(spec, 'destination must be an absolute path');
  if (target === '/') throw new InvalidMountError(spec, 'destination cannot be "/"');
  return path.normalize(target).replace(/(.)\/$/, '$1');
}

/** Parses one `-v` / `--volume` value. `cwd` resolves `./relative` bind sources. */
export function parseVolumeFlag(spec: string, cwd = process.cwd()): MountRequest {
  const parts = spec.split(':');
  if (parts.length > 3 || parts.some((p) => p === '')) throw new InvalidMountError(spec, 'expected [source:]destination[:options]');
  let source = '';
  let target: string;
  let opts = '';
  if (parts.length === 1) target = parts[0]!;
  else if (parts.length === 2) {
    // `/dst:ro` is an anonymous volume with options only if the second part is not a path.
    if (path.isAbsolute(parts[1]!)) [source, target] = [parts[0]!, parts[1]!];
    else [target, opts] = [parts[0]!, parts[1]!];
  } else [source, target, opts] = [parts[0]!, parts[1]!, parts[2]!];
  const req: MountRequest = { Type: 'volume', Source: '', Target: absTarget(spec, target), ReadOnly: false };
  if (source) {
    if (path.isAbsolute(source) || source.startsWith('.')) {
      req.Type = 'bind';
      req.Source = path.resolve(cwd, source);
      req.Recursive = true;
      req.CreateHostPath = true;
    } else {
      if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/.test(source)) throw new InvalidMountError(spec, `invalid volume name ${JSON.stringify(source)}`);
      req.Source = source;
    }
  }
  let mode = '';
  for (const o of opts ? opts.split(',') : []) {
    if (o === 'ro' || o === 'rw') {
      if (mode) throw new InvalidMountError(spec, 'ro and rw given twice');
      mode = o;
      req.ReadOnly = o === 'ro';
    } else if (o === 'z' || o === 'Z') req.Relabel = o;
    else if (o === 'nocopy') {
      if (req.Type !== 'volume') throw new InvalidMountError(spec, 'nocopy applies to volumes only');
      req.NoCopy = true;
    } else if (propagations.has(o)) {
      if (req.Type !== 'bind') throw new InvalidMountError(spec, 'propagation applies to bind mounts only');
      req.Propagation = o;
    } else if (o === 'consistent' || o === 'cached' || o === 'delegated') continue;
    else throw new InvalidMountError(spec, `unknown option ${JSON.stringify(o)}`);
  }
  return req;
}

/** Parses a size like `64m`, `1g`, `512k`, `1024` into bytes (docker's RAMInBytes). */
export function parseSize(spec: string, value: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b)?$/i.exec(value.trim());
  if (!m) throw new InvalidMountError(spec, `invalid size ${JSON.stringify(value)}`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 }[m[2]!.toLowerCase() as 'k'];
  return Math.floor(Number(m[1]) * mult);
}

/** Splits a `--mount` value into fields, honouring CSV double quotes. */
function csvFields(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (const ch of s) {
    if (ch === '"') quoted = !quoted;
    else if (ch === ',' && !quoted) { out.push(cur); cur = ''; } else cur += ch;
  }
  out.push(cur);
  return out;
}

/** Parses one `--mount` value. */
export function parseMountFlag(spec: string, cwd = process.cwd()): MountRequest {
  let type = 'volume';
  let source = '';
  let target = '';
  const req: Partial<MountRequest> = { ReadOnly: false };
  const rest: Array<[string, string | undefined]> = [];
  for (const field of csvFields(spec)) {
    if (!field) continue;
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    const value = eq < 0 ? undefined : field.slice(eq + 1);
    if (key === 'type') type = value ?? '';
    else if (key === 'source' || key === 'src') source = value ?? '';
    else if (key === 'target' || key === 'destination' || key === 'dst') target = value ?? '';
    else rest.push([key, value]);
  }
  if (!['bind', 'volume', 'tmpfs'].includes(type)) throw new InvalidMountError(spec, `unsupported type ${JSON.stringify(type)}`);
  req.Type = type as MountRequest['Type'];
  req.Target = absTarget(spec, target);
  const bool = (v: string | undefined) => {
    if (v === undefined || v === '' || v === 'true' || v === '1') return true;
    if (v === 'false' || v === '0') return false;
    throw new InvalidMountError(spec, `invalid boolean ${JSON.stringify(v)}`);
  };
  for (const [key, value] of rest) {
    const only = (t: string) => {
      if (req.Type !== t) throw new InvalidMountError(spec, `${key} applies to type=${t} only`);
    };
    switch (key) {
      case 'readonly': case 'ro': req.ReadOnly = bool(value); break;
      case 'consistency': break;
      case 'bind-propagation':
        only('bind');
        if (!value || !propagations.has(value)) throw new InvalidMountError(spec, `invalid propagation ${JSON.stringify(value)}`);
        req.Propagation = value;
        break;
      case 'bind-recursive':
        only('bind');
        if (!['enabled', 'disabled', 'writable', 'readonly'].includes(value ?? '')) throw new InvalidMountError(spec, 'invalid bind-recursive');
        req.Recursive = value !== 'disabled';
        break;
      case 'bind-nonrecursive': only('bind'); req.Recursive = !bool(value); break;
      case 'bind-create-src': only('bind'); req.CreateHostPath = bool(value); break;
      case 'volume-nocopy': only('volume'); req.NoCopy = bool(value); break;
      case 'volume-driver':
        only('volume');
        if (value !== 'local') throw new InvalidMountError(spec, 'only the local volume driver exists');
        break;
      case 'volume-label': {
        only('volume');
        const [k, ...v] = (value ?? '').split('=');
        req.VolumeLabels = { ...req.VolumeLabels, [k!]: v.join('=') };
        break;
      }
      case 'volume-opt': {
        only('volume');
        const [k, ...v] = (value ?? '').split('=');
        req.VolumeOptions = { ...req.VolumeOptions, [k!]: v.join('=') };
        break;
      }
      case 'tmpfs-size': only('tmpfs'); req.TmpfsSize = parseSize(spec, value ?? ''); break;
      case 'tmpfs-mode': {
        only('tmpfs');
        const mode = parseInt(value ?? '', 8);
        if (!/^[0-7]{1,4}$/.test(value ?? '')) throw new InvalidMountError(spec, `invalid tmpfs-mode ${JSON.stringify(value)}`);
        req.TmpfsMode = mode;
        break;
      }
      default: throw new InvalidMountError(spec, `unexpected key ${JSON.stringify(key)}`);
    }
  }
  if (req.Type === 'bind') {
    if (!source) throw new InvalidMountError(spec, 'bind mounts need a source');
    req.Source = path.resolve(cwd, source);
    req.Recursive ??= true;
    req.CreateHostPath ??= false;
  } else if (req.Type === 'tmpfs') {
    if (source) throw new InvalidMountError(spec, 'tmpfs mounts take no source');
    req.Source = '';
  } else {
    if (source && !/^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/.test(source)) throw new InvalidMountError(spec, `invalid volume name ${JSON.stringify(source)}`);
    req.Source = source;
  }
  return req as MountRequest;
}

/** Parses one `--tmpfs DST[:OPTS]` value (OPTS as for mount(8): size=64m,mode=1777,noexec…). */
export function parseTmpfsFlag(spec: string): MountRequest {
  const i = spec.indexOf(':');
  const target = i < 0 ? spec : spec.slice(0, i);
  const opts = i < 0 ? '' : spec.slice(i + 1);
  const req: MountRequest = { Type: 'tmpfs', Source: '', Target: absTarget(spec, target), ReadOnly: false, TmpfsOptions: [] };
  for (const o of opts ? opts.split(',') : []) {
    if (o === 'ro') req.ReadOnly = true;
    else if (o === 'rw') req.ReadOnly = false;
    else if (o.startsWith('size=')) req.TmpfsSize = parseSize(spec, o.slice(5));
    else if (o.startsWith('mode=')) {
      if (!/^[0-7]{1,4}$/.test(o.slice(5))) throw new InvalidMountError(spec, `invalid mode ${JSON.stringify(o)}`);
      req.TmpfsMode = parseInt(o.slice(5), 8);
    } else if (/^[a-z_]+(=[^,]*)?$/.test(o)) req.TmpfsOptions!.push(o);
    else throw new InvalidMountError(spec, `invalid option ${JSON.stringify(o)}`);
  }
  return req;
}

/**
 * Turns a mount request into the OCI runtime-spec mount a runtime will
 * perform. `volumeMountpoint` is the host path of a volume (resolved by the
 * engine from the volume store).
 */
export function toOciMount(req: MountRequest, volumeMountpoint?: string): OciMount {
  if (req.Type === 'tmpfs') {
    // Docker's defaults for --tmpfs: noexec, nosuid, nodev; mode 1777 unless given.
    const options = ['nosuid', 'nodev', 'noexec'];
    const extra = req.TmpfsOptions ?? [];
    for (const o of extra) {
      const neg = { exec: 'noexec', suid: 'nosuid', dev: 'nodev' }[o as 'exec'];
      if (neg) options.splice(options.indexOf(neg), 1);
      if (!options.includes(o)) options.push(o);
    }
    if (req.TmpfsSize !== undefined) options.push(`size=${req.TmpfsSize}`);
    options.push(`mode=${(req.TmpfsMode ?? 0o1777).toString(8)}`);
    if (req.ReadOnly) options.push('ro');
    return { destination: req.Target, type: 'tmpfs', source: 'tmpfs', options };
  }
  const source = req.Type === 'volume' ? volumeMountpoint : req.Source;
  if (!source) throw new InvalidMountError(req.Target, 'volume has no resolved mountpoint');
  const options = [req.Recursive === false ? 'bind' : 'rbind', req.Propagation ?? 'rprivate'];
  if (req.ReadOnly) options.push('ro');
  return { destination: req.Target, type: 'bind', source, options };
}
