/**
 * Image commands over the engine's ImageService (the CLI injects the
 * engine's `LocalImageService`; an engine opened without one rejects them
 * with `ERR_ENGINE_NOT_IMPLEMENTED`).
 */
import fs from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { ImageProgress } from '@berth/engine';
import type { CommandSpec, FlagSpec } from '../args.js';
import { write, type CliContext } from '../context.js';
import { confirm, filtersFrom, humanSize, imageDeleteLines, listFlags, mapFrom, printInspect, printList, prunedText } from './common.js';

const t = (long: string, help: string, short?: string): FlagSpec => ({ long, short, type: 'string', value: 'string', help });
const b = (long: string, help: string, short?: string): FlagSpec => ({ long, short, type: 'bool', help });
const l = (long: string, help: string, short?: string): FlagSpec => ({ long, short, type: 'list', value: 'list', help });

/** Prints docker-style progress lines (one per message; no cursor tricks when not a TTY). */
function progressPrinter(ctx: CliContext, quiet: boolean): (p: ImageProgress) => void {
  return (p) => {
    if (quiet) return;
    ctx.stdout.write(`${p.id ? `${p.id}: ` : ''}${p.status}${p.progress ? ` ${p.progress}` : ''}\n`);
  };
}

/** `--change 'CMD ["x"]'` style instructions → config fields (the subset import and commit support). */
export function changesToConfig(changes: string[]): Record<string, unknown> {
  const cfg: Record<string, unknown> = {};
  for (const c of changes) {
    const m = /^\s*(\w+)\s+(.*)$/.exec(c);
    if (!m) continue;
    const key = m[1]!.toUpperCase();
    const val = m[2]!.trim();
    const list = () => (val.startsWith('[') ? JSON.parse(val) as string[] : ['/bin/sh', '-c', val]);
    if (key === 'CMD') cfg.Cmd = list();
    else if (key === 'ENTRYPOINT') cfg.Entrypoint = list();
    else if (key === 'ENV') cfg.Env = [...((cfg.Env as string[]) ?? []), val.includes('=') ? val : val.replace(/\s+/, '=')];
    else if (key === 'WORKDIR') cfg.WorkingDir = val;
    else if (key === 'USER') cfg.User = val;
    else if (key === 'LABEL') cfg.Labels = { ...(cfg.Labels as object), ...mapFrom([val]) };
    else if (key === 'EXPOSE') cfg.ExposedPorts = { ...(cfg.ExposedPorts as object), [val.includes('/') ? val : `${val}/tcp`]: {} };
    else if (key === 'VOLUME') cfg.Volumes = { ...(cfg.Volumes as object), [val]: {} };
  }
  return cfg;
}

const pull: CommandSpec<CliContext> = {
  name: 'pull', usage: '[OPTIONS] NAME[:TAG|@DIGEST]', summary: 'Download an image from a registry', args: { min: 1, max: 1 },
  flags: [b('all-tags', 'Download all tagged images in the repository', 'a'), t('platform', 'Set platform if server is multi-platform capable'), b('quiet', 'Suppress verbose output', 'q')],
  run: async (cmd, ctx) => {
    const e = await ctx.engine();
    const [os, architecture, variant] = ((cmd.flags.platform as string | undefined) ?? '').split('/');
    const r = await e.images.pull(cmd.args[0]!, {
      onProgress: progressPrinter(ctx, !!cmd.flags.quiet),
      platform: os && architecture ? { os, architecture, ...(variant ? { variant } : {}) } : undefined,
    });
    await write(ctx.stdout, `${r.name}\n`);
    return 0;
  },
};

const push: CommandSpec<CliContext> = {
  name: 'push', usage: '[OPTIONS] NAME[:TAG]', summary: 'Upload an image to a registry', args: { min: 1, max: 1 },
  flags: [b('all-tags', 'Push all tags', 'a'), b('quiet', 'Suppress verbose output', 'q')],
  run: async (cmd, ctx) => {
    const r = await (await ctx.engine()).images.push(cmd.args[0]!, { onProgress: progressPrinter(ctx, !!cmd.flags.quiet) });
    await write(ctx.stdout, `digest: ${r.digest} size: ${r.size}\n`);
    return 0;
  },
};

const images: CommandSpec<CliContext> = {
  name: 'images', usage: '[OPTIONS] [REPOSITORY[:TAG]]', summary: 'List images', args: { max: 1 },
  flags: [b('all', 'Show all images', 'a'), b('digests', 'Show digests'), ...listFlags],
  run: async (cmd, ctx) => {
    const filters = filtersFrom('berth images', cmd.flags.filter as string[]);
    if (cmd.args[0]) (filters.reference ??= []).push(cmd.args[0]);
    const list = await (await ctx.engine()).images.list({ filters });
    const trunc = !cmd.flags['no-trunc'];
    const rows = list.flatMap((i) => (i.RepoTags.length ? i.RepoTags : ['<none>:<none>']).map((tag) => {
      const at = tag.lastIndexOf(':');
      return {
        ID: trunc ? i.Id.replace(/^sha256:/, '').slice(0, 12) : i.Id, Repository: tag.slice(0, at), Tag: tag.slice(at + 1),
        Digest: i.RepoDigests[0]?.split('@')[1] ?? '<none>', CreatedSince: `${Math.max(0, Math.round((Date.now() / 1000 - i.Created) / 86400))} days ago`,
        CreatedAt: new Date(i.Created * 1000).toISOString(), Size: humanSize(i.Size), Containers: String(i.Containers),
      };
    }));
    await printList(ctx, cmd.flags, rows, {
      table: cmd.flags.digests ? 'table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}'
        : 'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}',
      quietField: 'ID', headers: { ID: 'IMAGE ID', CreatedSince: 'CREATED' },
    });
    return 0;
  },
};

const rmi: CommandSpec<CliContext> = {
  name: 'rmi', usage: '[OPTIONS] IMAGE [IMAGE...]', summary: 'Remove one or more images', args: { min: 1 },
  flags: [b('force', 'Force removal of the image', 'f'), b('no-prune', 'Do not delete untagged parents')],
  run: async (cmd, ctx) => {
    const e = await ctx.engine();
    let status = 0;
    for (const ref of cmd.args) {
      try {
        for (const item of await e.images.remove(ref, { force: !!cmd.flags.force, noprune: !!cmd.flags['no-prune'] })) {
          await write(ctx.stdout, 'Untagged' in item ? `Untagged: ${item.Untagged}\n` : `Deleted: ${item.Deleted}\n`);
        }
      } catch (err) {
        status = 1;
        await write(ctx.stderr, `Error: ${(err as Error).message}${(err as { code?: string }).code ? ` [${(err as { code?: string }).code}]` : ''}\n`);
      }
    }
    return status;
  },
};

const tag: CommandSpec<CliContext> = {
  name: 'tag', usage: 'SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]', summary: 'Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE', args: { min: 2, max: 2 },
  run: async (cmd, ctx) => {
    await (await ctx.engine()).images.tag(cmd.args[0]!, cmd.args[1]!);
    return 0;
  },
};

const history: CommandSpec<CliContext> = {
  name: 'history', usage: '[OPTIONS] IMAGE', summary: 'Show the history of an image', args: { min: 1, max: 1 },
  flags: [b('human', 'Print sizes and dates in human readable format', 'H'), ...listFlags.filter((f) => f.long !== 'filter')],
  run: async (cmd, ctx) => {
    const items = await (await ctx.engine()).images.history(cmd.args[0]!);
    const trunc = !cmd.flags['no-trunc'];
    const rows = items.map((h) => ({
      ID: h.Id === '<missing>' || !trunc ? h.Id : h.Id.replace(/^sha256:/, '').slice(0, 12),
      CreatedSince: `${Math.max(0, Math.round((Date.now() / 1000 - h.Created) / 86400))} days ago`,
      CreatedBy: trunc && h.CreatedBy.length > 45 ? `${h.CreatedBy.slice(0, 44)}…` : h.CreatedBy, Size: humanSize(h.Size), Comment: h.Comment,
    }));
    await printList(ctx, cmd.flags, rows, { table: 'table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}', quietField: 'ID', headers: { ID: 'IMAGE', CreatedSince: 'CREATED', CreatedBy: 'CREATED BY' } });
    return 0;
  },
};

const save: CommandSpec<CliContext> = {
  name: 'save', usage: '[OPTIONS] IMAGE [IMAGE...]', summary: 'Save one or more images to a tar archive (streamed to STDOUT by default)', args: { min: 1 },
  flags: [t('output', 'Write to a file, instead of STDOUT', 'o')],
  run: async (cmd, ctx) => {
    const tar = await (await ctx.engine()).images.save(cmd.args);
    await pipeline(tar, cmd.flags.output ? fs.createWriteStream(cmd.flags.output as string) : ctx.stdout, { end: !!cmd.flags.output });
    return 0;
  },
};

const load: CommandSpec<CliContext> = {
  name: 'load', usage: '[OPTIONS]', summary: 'Load an image from a tar archive or STDIN', args: { max: 0 },
  flags: [t('input', 'Read from tar archive file, instead of STDIN', 'i'), b('quiet', 'Suppress the load output', 'q')],
  run: async (cmd, ctx) => {
    const source = cmd.flags.input ? fs.createReadStream(cmd.flags.input as string) : ctx.stdin;
    const r = await (await ctx.engine()).images.load(source, { onProgress: progressPrinter(ctx, true) });
    for (const n of r.names) await write(ctx.stdout, `Loaded image: ${n}\n`);
    for (const id of r.names.length ? [] : r.ids) await write(ctx.stdout, `Loaded image ID: ${id}\n`);
    return 0;
  },
};

const importCmd: CommandSpec<CliContext> = {
  name: 'import', usage: '[OPTIONS] file|- [REPOSITORY[:TAG]]', summary: 'Import the contents from a tarball to create a filesystem image', args: { min: 1, max: 2 },
  flags: [l('change', 'Apply Dockerfile instruction to the created image', 'c'), t('message', 'Set commit message for imported image', 'm'), t('platform', 'Set platform')],
  run: async (cmd, ctx) => {
    const src = cmd.args[0] === '-' ? ctx.stdin : fs.createReadStream(cmd.args[0]!);
    const r = await (await ctx.engine()).images.import(src, {
      ref: cmd.args[1], config: changesToConfig(cmd.flags.change as string[]), message: cmd.flags.message as string | undefined,
    });
    await write(ctx.stdout, `${r.id}\n`);
    return 0;
  },
};

const imageInspect: CommandSpec<CliContext> = {
  name: 'inspect', usage: '[OPTIONS] IMAGE [IMAGE...]', summary: 'Display detailed information on one or more images', args: { min: 1 },
  flags: [t('format', 'Format output using a custom template', 'f')],
  run: async (cmd, ctx) => {
    const e = await ctx.engine();
    const out = [];
    for (const r of cmd.args) out.push(await e.images.inspect(r));
    await printInspect(ctx, cmd.flags, out);
    return 0;
  },
};

const imagePrune: CommandSpec<CliContext> = {
  name: 'prune', usage: '[OPTIONS]', summary: 'Remove unused images', args: { max: 0 },
  flags: [b('all', 'Remove all unused images, not just dangling ones', 'a'), l('filter', 'Provide filter values'), b('force', 'Do not prompt for confirmation', 'f')],
  run: async (cmd, ctx) => {
    if (!(await confirm(ctx, !!cmd.flags.force, cmd.flags.all ? 'WARNING! This will remove all images without at least one container associated to them.' : 'WARNING! This will remove all dangling images.'))) return 0;
    const r = await (await ctx.engine()).images.prune({ all: !!cmd.flags.all, filters: filtersFrom('berth image prune', cmd.flags.filter as string[]) });
    await write(ctx.stdout, `${prunedText('Images', imageDeleteLines(r.ImagesDeleted))}Total reclaimed space: ${humanSize(r.SpaceReclaimed)}\n`);
    return 0;
  },
};

/** Top-level image commands (docker's shortcuts). */
export const imageTopLevel = [pull, push, images, rmi, tag, history, save, load, importCmd];

/** The `image` group. */
export const imageCommand: CommandSpec<CliContext> = {
  name: 'image', usage: 'COMMAND', summary: 'Manage images',
  sub: [
    { ...images, name: 'ls', aliases: ['list'] }, pull, push, { ...rmi, name: 'rm', aliases: ['remove'] }, tag, history, save, load,
    { ...importCmd }, imageInspect, imagePrune,
  ],
};
