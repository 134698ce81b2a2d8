/**
 * A docker-compatible command-line parser (cobra/pflag rules): global flags
 * before the command, subcommands, `--flag=value` and `--flag value`, short
 * flags bundled (`-it`) or with attached values (`-p8080:80`, `-e=A`),
 * repeated flags accumulating, `--` ending flags, and commands such as
 * `run` that stop parsing flags at their first positional argument (the
 * image), so `berth run busybox ls -l` passes `-l` to the container.
 */
import { CliErrorCode, CliUsageError } from './errors.js';

/** How a flag takes values. */
export type FlagType = 'bool' | 'string' | 'list' | 'int';

/** One flag of a command. */
export interface FlagSpec {
  long: string;
  short?: string;
  type: FlagType;
  help: string;
  /** Shown in help as the value's name (`string`, `list`, `int`…). */
  value?: string;
  default?: string | boolean | number;
  hidden?: boolean;
}

/** Parsed flag values: bools, strings, ints, and lists for repeated flags. */
export type FlagValues = Record<string, boolean | string | number | string[] | undefined>;

/** What a command receives. */
export interface ParsedCommand {
  /** The command path, e.g. `['volume', 'ls']`. */
  path: string[];
  flags: FlagValues;
  args: string[];
  /** Global flags (before the command). */
  globals: FlagValues;
}

/** A command in the tree; leaves have `run`, groups have `sub`. */
export interface CommandSpec<Ctx = unknown> {
  name: string;
  aliases?: string[];
  usage: string;
  summary: string;
  flags?: FlagSpec[];
  sub?: Array<CommandSpec<Ctx>>;
  /** Positional argument count bounds. */
  args?: { min?: number; max?: number };
  /** Stop flag parsing at the first positional argument (run, create, exec). */
  stopAtFirstArg?: boolean;
  run?: (cmd: ParsedCommand, ctx: Ctx) => Promise<number>;
}

const help: FlagSpec = { long: 'help', type: 'bool', help: 'Print usage' };

function initial(flags: readonly FlagSpec[]): FlagValues {
  const v: FlagValues = {};
  for (const f of flags) {
    if (f.type === 'list') v[f.long] = [];
    else if (f.default !== undefined) v[f.long] = f.default;
    else if (f.type === 'bool') v[f.long] = false;
  }
  return v;
}

function setValue(where: string, f: FlagSpec, values: FlagValues, raw: string): void {
  switch (f.type) {
    case 'bool':
      if (!['true', 'false', '1', '0'].includes(raw)) throw new CliUsageError(CliErrorCode.InvalidValue, where, `invalid argument ${JSON.stringify(raw)} for "--${f.long}" flag: expected a boolean`);
      values[f.long] = raw === 'true' || raw === '1';
      break;
    case 'int': {
      if (!/^-?\d+$/.test(raw)) throw new CliUsageError(CliErrorCode.InvalidValue, where, `invalid argument ${JSON.stringify(raw)} for "--${f.long}" flag: expected an integer`);
      values[f.long] = Number(raw);
      break;
    }
    case 'list': (values[f.long] as string[]).push(raw); break;
    default: values[f.long] = raw;
  }
}

/**
 * Parses `argv` for one command's flags. Returns the flags and positionals;
 * with `stopAtFirstArg`, everything from the first positional on is
 * positional. `interspersed: false` (global flags) stops at the first
 * positional too and returns the rest in `rest`.
 */
export function parseFlags(where: string, specs: readonly FlagSpec[], argv: readonly string[], stopAtFirstArg = false): { flags: FlagValues; args: string[] } {
  const all = [...specs, help];
  const values = initial(all);
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      args.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      const f = all.find((s) => s.long === name);
      if (!f) throw new CliUsageError(CliErrorCode.UnknownFlag, where, `unknown flag: --${name}`);
      if (eq >= 0) setValue(where, f, values, a.slice(eq + 1));
      else if (f.type === 'bool') values[f.long] = true;
      else {
        if (i + 1 >= argv.length) throw new CliUsageError(CliErrorCode.MissingValue, where, `flag needs an argument: --${name}`);
        setValue(where, f, values, argv[++i]!);
      }
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      // Bundled shorthands: each char a bool flag, until one takes a value (rest of the word or the next arg).
      for (let j = 1; j < a.length; j++) {
        const ch = a[j]!;
        const f = all.find((s) => s.short === ch) ?? (ch === 'h' ? help : undefined);
        if (!f) throw new CliUsageError(CliErrorCode.UnknownFlag, where, `unknown shorthand flag: '${ch}' in ${a}`);
        if (f.type === 'bool') {
          if (a[j + 1] === '=') {
            setValue(where, f, values, a.slice(j + 2));
            break;
          }
          values[f.long] = true;
          continue;
        }
        let rest = a.slice(j + 1);
        if (rest.startsWith('=')) rest = rest.slice(1);
        if (rest) setValue(where, f, values, rest);
        else {
          if (i + 1 >= argv.length) throw new CliUsageError(CliErrorCode.MissingValue, where, `flag needs an argument: '${ch}' in -${ch}`);
          setValue(where, f, values, argv[++i]!);
        }
        break;
      }
      continue;
    }
    args.push(a);
    if (stopAtFirstArg) {
      args.push(...argv.slice(i + 1));
      break;
    }
  }
  return { flags: values, args };
}

/** Resolves the command path and parses global flags, then the leaf's flags. */
export function parseCommandLine<Ctx>(root: CommandSpec<Ctx>, argv: readonly string[]): { spec: CommandSpec<Ctx>; cmd: ParsedCommand } {
  // Global flags: non-interspersed, they end at the first positional (the command).
  const g = parseFlags(root.name, root.flags ?? [], argv, true);
  let spec = root;
  const path: string[] = [];
  let rest = g.args;
  while (spec.sub && rest.length) {
    const name = rest[0]!;
    if (name.startsWith('-') && !spec.run) break; // a group's own flags (`berth container --help`)
    const next = spec.sub.find((s) => s.name === name || s.aliases?.includes(name));
    if (!next) {
      if (spec.run) break;
      throw new CliUsageError(CliErrorCode.UnknownCommand, [root.name, ...path].join(' '),
        `unknown command: ${[root.name, ...path, name].join(' ')}`);
    }
    spec = next;
    path.push(next.name);
    rest = rest.slice(1);
  }
  const where = [root.name, ...path].join(' ');
  if (!spec.run) {
    // A group without a subcommand prints its help (docker does the same and exits 0 for "docker volume"), as does
    // `--help`; another flag is unknown, and a word after flags no command.
    const { args } = parseFlags(where, [], rest, true);
    if (args.length) throw new CliUsageError(CliErrorCode.UnknownCommand, where, `unknown command: ${where} ${args[0]}`);
    return { spec, cmd: { path, flags: { help: true }, args: [], globals: g.flags } };
  }
  const { flags, args } = parseFlags(where, spec.flags ?? [], rest, spec.stopAtFirstArg);
  if (!flags.help) {
    const { min = 0, max = Infinity } = spec.args ?? {};
    if (args.length < min || args.length > max) {
      const want = min === max ? `exactly ${min}` : max === Infinity ? `at least ${min}` : min === 0 ? `at most ${max}` : `${min} to ${max}`;
      throw new CliUsageError(CliErrorCode.Arguments, where, `"${where}" requires ${want} argument${want.endsWith(' 1') ? '' : 's'}.`);
    }
  }
  return { spec, cmd: { path, flags, args, globals: g.flags } };
}

/** Docker-style help text for a command. */
export function helpText<Ctx>(root: CommandSpec<Ctx>, spec: CommandSpec<Ctx>, path: readonly string[]): string {
  const full = [root.name, ...path].join(' ');
  const lines = [`Usage:  ${full} ${spec.usage}`.trimEnd(), '', spec.summary];
  if (spec.aliases?.length) lines.push('', 'Aliases:', `  ${[spec.name, ...spec.aliases].join(', ')}`);
  if (spec.sub?.length) {
    lines.push('', path.length ? 'Commands:' : 'Commands:');
    const w = Math.max(...spec.sub.map((s) => s.name.length)) + 3;
    for (const s of spec.sub) lines.push(`  ${s.name.padEnd(w)}${s.summary}`);
  }
  const flags = (spec.flags ?? []).filter((f) => !f.hidden);
  if (flags.length) {
    lines.push('', spec === root ? 'Global Options:' : 'Options:');
    const label = (f: FlagSpec) => `${f.short ? `-${f.short}, ` : '    '}--${f.long}${f.type === 'bool' ? '' : ` ${f.value ?? f.type}`}`;
    const w = Math.max(...flags.map((f) => label(f).length)) + 3;
    for (const f of flags) lines.push(`  ${label(f).padEnd(w)}${f.help}${f.default !== undefined && f.type !== 'bool' ? ` (default ${JSON.stringify(f.default)})` : ''}`);
  }
  if (spec.sub?.length) lines.push('', `Run '${full} COMMAND --help' for more information on a command.`);
  return `${lines.join('\n')}\n`;
}
