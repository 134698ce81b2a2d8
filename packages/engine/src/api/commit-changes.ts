/**
 * `docker commit --change` instructions (sent as the `changes` query
 * parameter of `POST /commit`) turned into image config fields. dockerd
 * accepts CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER,
 * VOLUME and WORKDIR (moby builder/dockerfile `validCommitCommands`); berth
 * applies all but ONBUILD, which it refuses like an unknown instruction.
 */
import { InvalidArgumentError } from '../errors.js';

/** The config fields commit changes can set. */
export interface CommitChanges {
  Cmd?: string[];
  Entrypoint?: string[];
  /** `KEY=value` entries, to be merged over the container's Env. */
  Env?: string[];
  ExposedPorts?: Record<string, Record<string, never>>;
  Labels?: Record<string, string>;
  StopSignal?: string;
  User?: string;
  Volumes?: Record<string, Record<string, never>>;
  WorkingDir?: string;
}

/** `["a","b"]` (exec form) or a shell-form command (`/bin/sh -c …`, as the builder does). */
function commandForm(rest: string): string[] {
  const t = rest.trim();
  if (t.startsWith('[')) {
    try {
      const v = JSON.parse(t) as unknown;
      if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
    } catch { /* shell form after all */ }
  }
  return ['/bin/sh', '-c', t];
}

/** Splits `k=v k2="v 2"` pairs, honouring double quotes. */
function pairs(rest: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const re = /([^\s=]+)=("(?:[^"\\]|\\.)*"|\S*)/g;
  for (let m = re.exec(rest); m; m = re.exec(rest)) {
    const v = m[2]!.startsWith('"') ? (JSON.parse(m[2]!) as string) : m[2]!;
    out.push([m[1]!, v]);
  }
  return out;
}

/** Parses `--change` lines; an unknown instruction is `ERR_ENGINE_INVALID_ARGUMENT`. */
export function parseChanges(lines: readonly string[]): CommitChanges {
  const c: CommitChanges = {};
  for (const line of lines) {
    const m = /^\s*(\w+)\s*(.*)$/s.exec(line);
    if (!m) throw new InvalidArgumentError('change', line, 'empty instruction');
    const rest = m[2]!.trim();
    switch (m[1]!.toUpperCase()) {
      case 'CMD': c.Cmd = commandForm(rest); break;
      case 'ENTRYPOINT': c.Entrypoint = commandForm(rest); break;
      case 'ENV': {
        const kv = rest.includes('=') ? pairs(rest) : [[rest.split(/\s+/, 1)[0]!, rest.slice(rest.split(/\s+/, 1)[0]!.length).trim()] as [string, string]];
        c.Env = [...(c.Env ?? []), ...kv.map(([k, v]) => `${k}=${v}`)];
        break;
      }
      case 'EXPOSE':
        c.ExposedPorts = { ...c.ExposedPorts };
        for (const p of rest.split(/\s+/).filter(Boolean)) c.ExposedPorts[p.includes('/') ? p : `${p}/tcp`] = {};
        break;
      case 'LABEL': c.Labels = { ...c.Labels, ...Object.fromEntries(pairs(rest)) }; break;
      case 'STOPSIGNAL': c.StopSignal = rest; break;
      case 'USER': c.User = rest; break;
      case 'WORKDIR': c.WorkingDir = rest; break;
      case 'VOLUME': {
        const list = rest.startsWith('[') ? (JSON.parse(rest) as string[]) : rest.split(/\s+/).filter(Boolean);
        c.Volumes = { ...c.Volumes, ...Object.fromEntries(list.map((v) => [v, {}])) };
        break;
      }
      default:
        throw new InvalidArgumentError('change', line, `${m[1]} is not a valid change command`);
    }
  }
  return c;
}
