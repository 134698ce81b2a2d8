#!/usr/bin/env node
/**
 * image-store-ls: opens an image store (an OCI image layout on disk),
 * optionally imports OCI layouts and `docker save` tars into it, and lists
 * its images with their digests and sizes, using only `@berth/image-store`.
 *
 *   image-store-ls [--import PATH]... [--base-name REPO] [--oci] [--verify] STORE
 *
 * Imports verify every blob as it is written (two-step writes: nothing is
 * visible before its digest checks) and hold the blobs in a lease until the
 * names are tagged. The store stays readable by skopeo and umoci.
 */
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { importDockerArchive, importOciLayoutDir, importOciLayoutTar, openLocalStore, walkImage, type LocalStore } from '@berth/image-store';

const usage = `usage: image-store-ls [--import PATH]... [--base-name REPO] [--oci] [--verify] STORE

Lists the images of STORE (an OCI image layout directory): name, manifest
digest and total size. With --import, imports first (STORE is created when
missing); without it, STORE must exist.

  --import PATH      an OCI layout directory, or a \`docker save\` tar (repeatable)
  --oci              tars given to --import are OCI layout tars, not \`docker save\` ones
  --base-name REPO   for OCI layout entries named only by a tag (latest): the repository
                     to put before it (e.g. docker.io/library/busybox)
  --verify           rehash every blob; exit 1 when one is corrupt
`;

class UsageError extends Error {}

const mb = (n: number): string => (n < 1e6 ? `${(n / 1e3).toFixed(1)} kB` : `${(n / 1e6).toFixed(1)} MB`);

/** Imports an OCI layout directory, an OCI layout tar or a `docker save` tar. */
async function importPath(store: LocalStore, file: string, oci: boolean, baseName: string | undefined): Promise<void> {
  const options = baseName ? { baseName } : {};
  const images = fs.statSync(file).isDirectory()
    ? await importOciLayoutDir(store, file, options)
    : oci
      ? await importOciLayoutTar(store, fs.createReadStream(file), options)
      : await importDockerArchive(store, fs.createReadStream(file), options);
  for (const image of images) process.stderr.write(`imported ${image.name} ${image.target.digest}\n`);
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true,
    options: {
      import: { type: 'string', multiple: true }, oci: { type: 'boolean' }, 'base-name': { type: 'string' },
      verify: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) { process.stdout.write(usage); return 0; }
  if (positionals.length !== 1) throw new UsageError('expected STORE');
  const imports = values.import ?? [];

  const store = await openLocalStore(positionals[0]!, { create: imports.length > 0 });
  try {
    for (const file of imports) await importPath(store, file, values.oci === true, values['base-name']);

    // Names sorted, each with the size of everything it references (index, manifests, config, layers).
    const rows = [['NAME', 'DIGEST', 'SIZE']];
    for (const { name, target } of await store.images.list()) {
      let size = 0;
      for await (const d of walkImage(store, target)) size += d.size;
      rows.push([name, target.digest, mb(size)]);
    }
    const width = (i: number) => Math.max(...rows.map((r) => r[i]!.length));
    for (const r of rows) process.stdout.write(`${r[0]!.padEnd(width(0))}  ${r[1]!.padEnd(width(1))}  ${r[2]}\n`);

    if (values.verify) {
      const report = await store.verify();
      process.stderr.write(`verified ${report.checked} blobs, ${mb(report.bytes)}: ${report.corrupt.length} corrupt\n`);
      for (const c of report.corrupt) process.stderr.write(`corrupt: ${c.expected ?? c.path} (${c.reason})\n`);
      if (report.corrupt.length) return 1;
    }
    return 0;
  } finally {
    await store.close();
  }
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (e) {
  if (e instanceof UsageError || String((e as { code?: string }).code).startsWith('ERR_PARSE_ARGS_')) {
    process.stderr.write(`image-store-ls: ${(e as Error).message}\n\n${usage}`);
    process.exitCode = 2;
  } else {
    // image-store errors have a stable `code` (ERR_STORE_NOT_FOUND, ERR_STORE_INVALID_ARCHIVE, …).
    const { message, code } = e as { message: string; code?: string };
    process.stderr.write(`image-store-ls: ${message}${code ? ` [${code}]` : ''}\n`);
    process.exitCode = 1;
  }
}
