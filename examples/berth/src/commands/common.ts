/** Helpers shared by commands: filters, key=value lists, list and inspect output. */
import { CliErrorCode, CliUsageError } from '../errors.js';
import { compileFormat } from '../format.js';
import type { FlagSpec, FlagValues } from '../args.js';
import { write, type CliContext } from '../context.js';

/** `--filter key=value` repeated → Docker's filter map. */
export function filtersFrom(where: string, values: string[] | undefined): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const f of values ?? []) {
    const i = f.indexOf('=');
    if (i <= 0) throw new CliUsageError(CliErrorCode.InvalidValue, where, `bad format of filter (expected name=value): ${f}`);
    (out[f.slice(0, i)] ??= []).push(f.slice(i + 1));
  }
  return out;
}

/** `--label k=v` / `--opt k=v` repeated → a map (a bare key gets ""). */
export function mapFrom(values: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values ?? []) {
    const i = v.indexOf('=');
    if (i < 0) out[v] = '';
    else out[v.slice(0, i)] = v.slice(i + 1);
  }
  return out;
}

/** The flags every list command has. */
export const listFlags: FlagSpec[] = [
  { long: 'quiet', short: 'q', type: 'bool', help: 'Only display IDs' },
  { long: 'filter', short: 'f', type: 'list', value: 'filter', help: 'Provide filter values (e.g. "name=x")' },
  { long: 'format', type: 'string', value: 'string', help: "Format output using a custom template: 'table', 'table TEMPLATE', 'json', 'TEMPLATE'" },
  { long: 'json', type: 'bool', help: 'Print one JSON object per line (same as --format json)' },
  { long: 'no-trunc', type: 'bool', help: "Don't truncate output" },
];

/** Prints rows with `--format`/`--json`/`-q` or the command's default table. */
export async function printList(ctx: CliContext, flags: FlagValues, rows: object[], opts: { table: string; quietField: string; headers?: Record<string, string> }): Promise<void> {
  if (flags.quiet) {
    for (const r of rows) await write(ctx.stdout, `${(r as Record<string, unknown>)[opts.quietField]}\n`);
    return;
  }
  const format = flags.json ? 'json' : (flags.format as string | undefined) || opts.table;
  const f = compileFormat(format);
  await write(ctx.stdout, f.render(rows, opts.headers));
}

/** Prints inspect results: a JSON array indented by 4 like docker, or `--format` per object. */
export async function printInspect(ctx: CliContext, flags: FlagValues, objects: unknown[]): Promise<void> {
  const format = flags.format as string | undefined;
  if (format && format !== 'json') {
    await write(ctx.stdout, compileFormat(format).render(objects));
    return;
  }
  await write(ctx.stdout, `${JSON.stringify(objects, null, 4)}\n`);
}

/** Runs `fn` for each name, printing failures like docker and returning 1 if any failed. */
export async function forEachName(ctx: CliContext, names: string[], fn: (n: string) => Promise<string | void>): Promise<number> {
  let status = 0;
  for (const n of names) {
    try {
      const out = await fn(n);
      if (out !== undefined) await write(ctx.stdout, `${out}\n`);
    } catch (e) {
      status = 1;
      const err = e as { message?: string; code?: string };
      await write(ctx.stderr, `Error: ${err.message}${err.code ? ` [${err.code}]` : ''}\n`);
    }
  }
  return status;
}

/** Asks "Are you sure…" unless `force`; true when confirmed. */
export async function confirm(ctx: CliContext, force: boolean, warning: string): Promise<boolean> {
  if (force) return true;
  await write(ctx.stdout, `${warning}\nAre you sure you want to continue? [y/N] `);
  const line = await new Promise<string>((resolve) => {
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('\n')) done();
    };
    const done = () => {
      ctx.stdin.off('data', onData);
      ctx.stdin.off('end', done);
      ctx.stdin.pause();
      resolve(buf.split('\n')[0] ?? '');
    };
    ctx.stdin.on('data', onData);
    ctx.stdin.once('end', done);
    ctx.stdin.resume();
  });
  return /^y(es)?$/i.test(line.trim());
}

/** What a prune deleted, as docker prints it: `Deleted <What>:`, a line per item, a blank line; nothing when nothing was. */
export function prunedText(what: string, lines: readonly string[]): string {
  return lines.length ? `Deleted ${what}:\n${lines.join('\n')}\n\n` : '';
}

/** An image removal's lines as docker prints them (`untagged: …`, `deleted: …`). */
export function imageDeleteLines(items: ReadonlyArray<{ Untagged: string } | { Deleted: string }>): string[] {
  return items.map((i) => ('Untagged' in i ? `untagged: ${i.Untagged}` : `deleted: ${i.Deleted}`));
}

/** Docker's byte size display (go-units HumanSize, decimal). */
export function humanSize(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return `${i === 0 ? v : v.toPrecision(4).replace(/\.?0+$/, '')}${units[i]}`;
}
