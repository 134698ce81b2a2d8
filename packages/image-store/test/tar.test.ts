/**
 * The streaming tar reader and writer against GNU tar: long names (GNU and
 * pax), directories, symlinks, `./` prefixes, and bodies split across chunks.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import fs from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { readTar, writeTar } from '@berth/image-store';
import { tempDir } from './helpers/temp.js';
import { bytesOf } from './helpers/collect.js';

const run = promisify(execFile);
const longDir = `${'d'.repeat(60)}/${'e'.repeat(60)}`;
const longName = `${longDir}/${'f'.repeat(40)}.txt`;

async function fill(dir: string): Promise<void> {
  await fs.mkdir(path.join(dir, longDir), { recursive: true });
  await fs.writeFile(path.join(dir, longName), 'long\n');
  await fs.writeFile(path.join(dir, 'big.bin'), Buffer.alloc(70000, 7));
  await fs.symlink('big.bin', path.join(dir, 'link'));
}

for (const format of ['gnu', 'pax', 'ustar']) {
  test(`readTar reads GNU tar --format=${format} output`, async (t) => {
    const dir = await tempDir(t);
    const src = path.join(dir, 'src');
    await fs.mkdir(src);
    await fill(src);
    const file = path.join(dir, 'x.tar');
    await run('tar', ['-C', src, `--format=${format}`, '-cf', file, '.']);
    const seen: Record<string, string> = {};
    // Tiny chunks exercise headers and bodies split across reads.
    for await (const e of readTar(createReadStream(file, { highWaterMark: 777 }))) {
      seen[e.name] = e.type === 'file' ? (await bytesOf(e.body)).toString('latin1') : `${e.type}:${e.linkname}`;
    }
    t.is(seen[longName], 'long\n');
    t.is(seen['big.bin']!.length, 70000);
    t.is(seen.link, 'symlink:big.bin');
    t.is(seen[`${longDir}/`], 'dir:');
  });
}

test('writeTar output (pax long names) is read back by GNU tar and by readTar; unread bodies are skipped', async (t) => {
  const dir = await tempDir(t);
  const bytes = await bytesOf(writeTar([
    { name: 'a', type: 'dir' },
    { name: longName, data: Buffer.from('long\n') },
    { name: 'a/big', size: 100000, stream: async () => (async function* () { yield Buffer.alloc(60000, 1); yield Buffer.alloc(40000, 2); })() },
    { name: 'a/last', data: Buffer.from('last') },
  ]));
  const file = path.join(dir, 'w.tar');
  await fs.writeFile(file, bytes);
  const list = (await run('tar', ['-tvf', file])).stdout;
  t.true(list.includes(longName));
  const out = path.join(dir, 'out');
  await fs.mkdir(out);
  await run('tar', ['-C', out, '-xf', file]);
  t.is(await fs.readFile(path.join(out, longName), 'utf8'), 'long\n');
  t.is((await fs.stat(path.join(out, 'a/big'))).size, 100000);
  const names: string[] = [];
  for await (const e of readTar(Readable.from([bytes]))) {
    names.push(e.name);
    if (e.name === 'a/last') t.is((await bytesOf(e.body)).toString(), 'last');
  }
  t.deepEqual(names, ['a/', longName, 'a/big', 'a/last']);
});

test('a truncated tar or a bad checksum is ERR_STORE_INVALID_ARCHIVE', async (t) => {
  const bytes = await bytesOf(writeTar([{ name: 'x', data: Buffer.alloc(5000, 1) }]));
  const drain = async (b: Buffer) => { for await (const e of readTar(Readable.from([b]))) await bytesOf(e.body); };
  const e1 = await t.throwsAsync(drain(bytes.subarray(0, 2000)));
  t.is((e1 as { code?: string }).code, 'ERR_STORE_INVALID_ARCHIVE');
  const bad = Buffer.from(bytes);
  bad[10] = 0x41;
  const e2 = await t.throwsAsync(drain(bad));
  t.is((e2 as { code?: string }).code, 'ERR_STORE_INVALID_ARCHIVE');
});
