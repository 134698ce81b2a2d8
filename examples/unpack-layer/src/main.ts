#!/usr/bin/env node
/**
 * unpack-layer: applies OCI layer tars, in order, to a directory, using only
 * `@berth/cow-fs`.
 *
 *   unpack-layer [--no-devices] [--no-same-owner] TARGET LAYER...
 *
 * Each layer may be gzip, zstd or a plain tar (detected from its first
 * bytes). Whiteouts delete what lower layers made; no entry can write outside
 * TARGET (`..`, absolute names and symlinked parents are resolved inside it).
 * For each layer, stdout gets its diffId (the sha256 of the uncompressed tar,
 * what an image config lists in `rootfs.diff_ids`) and its path.
 */
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { applyLayer } from '@berth/cow-fs';

const usage = `usage: unpack-layer [--no-devices] [--no-same-owner] TARGET LAYER...

Applies each LAYER (a tar, tar+gzip or tar+zstd file; - for stdin) to the
directory TARGET (created when missing), lowest layer first, and prints
"<diffId>  <LAYER>" for each.

  --no-devices      refuse char and block devices (ERR_LAYER_DEVICE_NOT_PERMITTED)
  --no-same-owner   do not chown entries to the uid/gid in the tar (default when not root)
`;

class UsageError extends Error {}

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true,
    options: {
      'no-devices': { type: 'boolean' }, 'no-same-owner': { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) { process.stdout.write(usage); return; }
  const [target, ...layers] = positionals;
  if (!target || layers.length === 0) throw new UsageError('expected TARGET and at least one LAYER');
  fs.mkdirSync(target, { recursive: true });

  // Ctrl-C stops between two tar entries (applyLayer checks the signal per entry).
  const ac = new AbortController();
  process.once('SIGINT', () => ac.abort());

  for (const layer of layers) {
    const input = layer === '-' ? process.stdin : fs.createReadStream(layer);
    const r = await applyLayer(target, input, {
      convertWhiteout: 'apply',           // TARGET holds the whole tree: whiteouts delete
      allowDevices: !values['no-devices'],
      ...(values['no-same-owner'] ? { sameOwner: false } : {}),
      sync: layer === layers.at(-1),      // one syncfs at the end is enough
      signal: ac.signal,
    });
    process.stderr.write(`${layer}: ${r.compression}, ${r.entries} entries, ${r.compressedSize} → ${r.size} bytes\n`);
    process.stdout.write(`${r.diffId}  ${layer}\n`);
  }
}

try {
  await main(process.argv.slice(2));
} catch (e) {
  if (e instanceof UsageError || String((e as { code?: string }).code).startsWith('ERR_PARSE_ARGS_')) {
    process.stderr.write(`unpack-layer: ${(e as Error).message}\n\n${usage}`);
    process.exitCode = 2;
  } else {
    // cow-fs errors have a stable `code` (ERR_LAYER_PATH_ESCAPE, …); entry errors name the tar entry.
    const { message, code } = e as { message: string; code?: string };
    process.stderr.write(`unpack-layer: ${message}${code ? ` [${code}]` : ''}\n`);
    process.exitCode = 1;
  }
}
