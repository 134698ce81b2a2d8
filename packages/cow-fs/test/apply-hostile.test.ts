/**
 * A hostile corpus: crafted layers (single and multi-layer) that try to write
 * outside the target. None may: a sentinel directory next to the target and
 * the directory holding both must stay exactly as they were. Rejections are
 * typed errors naming the entry.
 */
import fs from 'node:fs';
import test, { type ExecutionContext } from 'ava';
import { applyLayer, type ApplyLayerOptions } from '@berth/cow-fs';
import { makeTar, streamOf, type TarSpec } from './helpers/tar.js';
import { isRoot, tmp } from './helpers/temp.js';
import { readTree } from './helpers/tree.js';

const t0 = isRoot ? test : test.skip;

interface Case {
  name: string;
  /** Layers, applied in order into the same target. */
  layers: (ctx: { base: string; sentinel: string }) => TarSpec[][];
  /** Error code the last layer must fail with, or undefined when it applies. */
  code?: string;
  /** Entry name the error must name. */
  entry?: string;
  options?: ApplyLayerOptions;
  /** Extra checks of the target after the layers. */
  check?: (t: ExecutionContext, target: string) => void;
}

function state(base: string, sentinel: string): string {
  const st = fs.statSync(sentinel);
  return JSON.stringify({ base: fs.readdirSync(base).sort(), tree: [...readTree(sentinel, { root: true })], mtime: st.mtimeMs, mode: st.mode, nlink: fs.statSync(`${sentinel}/file`).nlink });
}

const cases: Case[] = [
  { name: 'a `..` component', layers: () => [[{ name: '../escape', data: 'x' }]], code: 'ERR_LAYER_PATH_ESCAPE', entry: '../escape' },
  { name: '`..` after a directory', layers: () => [[{ name: 'a/', type: 'directory' }, { name: 'a/../../escape', data: 'x' }]], code: 'ERR_LAYER_PATH_ESCAPE', entry: 'a/../../escape' },
  { name: 'an absolute path into the sentinel', layers: ({ sentinel }) => [[{ name: `${sentinel}/file`, data: 'pwned' }]], code: 'ERR_LAYER_PATH_ESCAPE' },
  { name: 'a PAX path record with `..`', layers: () => [[{ name: 'innocent', data: 'x', options: { extraPax: [['path', '../../escape']] } }]], code: 'ERR_LAYER_PATH_ESCAPE', entry: '../../escape' },
  { name: 'a GNU long name with `..`', layers: () => [[{ name: `${'d/'.repeat(60)}${'../'.repeat(70)}escape`, data: 'x', options: { longNames: 'gnu' } }]], code: 'ERR_LAYER_PATH_ESCAPE' },
  {
    name: 'a relative symlink in a parent component (same layer)',
    layers: () => [[{ name: 'evil', type: 'symlink', linkname: '../sentinel' }, { name: 'evil/file', data: 'pwned' }]],
    check: (t, target) => t.is(fs.readFileSync(`${target}/sentinel/file`, 'utf8'), 'pwned'),
  },
  {
    name: 'an absolute symlink in a parent component',
    layers: ({ sentinel }) => [[{ name: 'evil', type: 'symlink', linkname: sentinel }, { name: 'evil/file', data: 'pwned' }]],
    check: (t, target) => t.true(fs.readdirSync(target).includes('evil')),
  },
  {
    name: 'a symlink planted by an earlier layer (CVE-2025-45582 shape)',
    layers: () => [[{ name: 'etc', type: 'symlink', linkname: '../../sentinel' }], [{ name: 'etc/file', data: 'pwned' }, { name: 'etc/new', data: 'pwned' }]],
    check: (t, target) => t.is(fs.readFileSync(`${target}/sentinel/new`, 'utf8'), 'pwned'),
  },
  {
    name: 'a symlink to / planted by an earlier layer',
    layers: () => [[{ name: 'root', type: 'symlink', linkname: '/' }], [{ name: 'root/sentinel/file', data: 'pwned' }]],
    check: (t, target) => t.is(fs.readFileSync(`${target}/sentinel/file`, 'utf8'), 'pwned'),
  },
  {
    name: 'a file entry over a symlink that points outside',
    layers: () => [[{ name: 'f', type: 'symlink', linkname: '../sentinel/file' }, { name: 'f', data: 'replaced' }]],
    check: (t, target) => t.true(fs.lstatSync(`${target}/f`).isFile()),
  },
  {
    name: 'a directory entry over a symlink that points outside',
    layers: () => [[{ name: 'd', type: 'symlink', linkname: '../sentinel' }, { name: 'd/', type: 'directory', mode: 0o777, uid: 99 }]],
    check: (t, target) => t.true(fs.lstatSync(`${target}/d`).isDirectory()),
  },
  { name: 'a hardlink to `../`', layers: () => [[{ name: 'hl', type: 'link', linkname: '../sentinel/file' }]], code: 'ERR_LAYER_LINK_ESCAPE', entry: 'hl' },
  { name: 'a hardlink to an absolute path', layers: ({ sentinel }) => [[{ name: 'hl', type: 'link', linkname: `${sentinel}/file` }]], code: 'ERR_LAYER_LINK_ESCAPE', entry: 'hl' },
  {
    name: 'a hardlink through a symlinked parent',
    layers: () => [[{ name: 's', type: 'symlink', linkname: '../sentinel' }, { name: 'hl', type: 'link', linkname: 's/file' }]],
    code: 'ERR_LAYER_APPLY_FAILED', entry: 'hl',
  },
  {
    name: 'a hardlink through a symlink planted by an earlier layer',
    layers: () => [[{ name: 's', type: 'symlink', linkname: '/../../sentinel' }], [{ name: 'hl', type: 'link', linkname: 's/file' }]],
    code: 'ERR_LAYER_APPLY_FAILED', entry: 'hl',
  },
  { name: 'a hardlink to a directory', layers: () => [[{ name: 'd/', type: 'directory' }, { name: 'hl', type: 'link', linkname: 'd' }]], code: 'ERR_LAYER_LINK_ESCAPE', entry: 'hl' },
  { name: 'a whiteout naming `..`', layers: () => [[{ name: 'a/', type: 'directory' }, { name: 'a/.wh...' }]], code: 'ERR_LAYER_INVALID_WHITEOUT', entry: 'a/.wh...' },
  { name: 'a whiteout naming nothing', layers: () => [[{ name: '.wh.' }]], code: 'ERR_LAYER_INVALID_WHITEOUT', entry: '.wh.' },
  {
    name: 'a whiteout through a symlinked parent',
    layers: () => [[{ name: 's', type: 'symlink', linkname: '../sentinel' }], [{ name: 's/.wh.file' }, { name: 's/.wh..wh..opq' }]],
  },
  {
    name: 'an opaque whiteout through a symlink to /',
    layers: () => [[{ name: 'up', type: 'symlink', linkname: '../..' }], [{ name: 'up/.wh..wh..opq' }]],
  },
  { name: 'a char device where devices are not permitted', layers: () => [[{ name: 'mem', type: 'char', devmajor: 1, devminor: 1 }]], code: 'ERR_LAYER_DEVICE_NOT_PERMITTED', entry: 'mem', options: { allowDevices: false } },
  { name: 'a block device where devices are not permitted', layers: () => [[{ name: 'sda', type: 'block', devmajor: 8, devminor: 0 }]], code: 'ERR_LAYER_DEVICE_NOT_PERMITTED', entry: 'sda', options: { allowDevices: false } },
  { name: 'a symlink loop in a parent', layers: () => [[{ name: 'a', type: 'symlink', linkname: 'b' }, { name: 'b', type: 'symlink', linkname: 'a' }, { name: 'a/x', data: 'x' }]], code: 'ERR_LAYER_APPLY_FAILED', entry: 'a/x' },
  {
    name: 'a symlink created on the thread pool (a new name, parent known), written through by the next entry',
    layers: () => [[{ name: 'a', data: 'x' }, { name: 'evil', type: 'symlink', linkname: '../sentinel' }, { name: 'evil/file', data: 'pwned' }]],
    options: { symlinksOnPool: true },
    check: (t, target) => t.is(fs.readFileSync(`${target}/sentinel/file`, 'utf8'), 'pwned'),
  },
  {
    name: 'many new symlinks, then one replaced by a directory and another written through',
    layers: () => [[
      { name: 'd/', type: 'directory' },
      ...Array.from({ length: 20 }, (_, i): TarSpec => ({ name: `d/l${i}`, type: 'symlink', linkname: '../../sentinel' })),
      { name: 'd/l7/', type: 'directory' }, { name: 'd/l7/f', data: 'inside' }, { name: 'd/l8/f', data: 'pwned' },
    ]],
    options: { symlinksOnPool: true },
    check: (t, target) => {
      t.is(fs.readFileSync(`${target}/d/l7/f`, 'utf8'), 'inside');
      t.is(fs.readFileSync(`${target}/sentinel/f`, 'utf8'), 'pwned');
      t.is(fs.readlinkSync(`${target}/d/l19`), '../../sentinel');
    },
  },
  {
    name: 'xattrs that would steer overlayfs',
    layers: () => [[{ name: 'd/', type: 'directory', xattrs: { 'trusted.overlay.redirect': Buffer.from('/../../sentinel'), 'trusted.overlay.opaque': Buffer.from('y') } }]],
    check: (t, target) => t.deepEqual(Object.keys(readTree(target).get('d')!.xattrs), []),
  },
];

for (const c of cases) {
  t0(`hostile (root): ${c.name}${c.code === undefined ? ' stays inside' : ` → ${c.code}`}`, async (t) => {
    const base = await tmp(t);
    const target = `${base}/target`;
    const sentinel = `${base}/sentinel`;
    fs.mkdirSync(target);
    fs.mkdirSync(sentinel, { mode: 0o700 });
    fs.writeFileSync(`${sentinel}/file`, 'sentinel');
    const before = state(base, sentinel);
    const layers = c.layers({ base, sentinel });
    for (const [i, l] of layers.entries()) {
      const apply = applyLayer(target, streamOf(makeTar(l)), { sync: false, ...c.options });
      if (i === layers.length - 1 && c.code !== undefined) {
        const err = await t.throwsAsync(apply, { code: c.code });
        if (c.entry !== undefined) t.is((err as unknown as { details: { entry: string } }).details.entry, c.entry);
      } else {
        await apply;
      }
    }
    c.check?.(t, target);
    t.is(state(base, sentinel), before);
    t.is(fs.readFileSync(`${sentinel}/file`, 'utf8'), 'sentinel');
  });
}

t0('hostile (root): overlay upper apply follows a lower layer\'s symlink only inside the root', async (t) => {
  const base = await tmp(t);
  const lower = `${base}/lower`;
  const upper = `${base}/upper`;
  const sentinel = `${base}/sentinel`;
  for (const d of [lower, upper, sentinel]) fs.mkdirSync(d);
  fs.writeFileSync(`${sentinel}/file`, 'sentinel');
  const before = state(base, sentinel);
  await applyLayer(lower, streamOf(makeTar([{ name: 'lnk', type: 'symlink', linkname: '../sentinel' }])), { sync: false });
  await applyLayer(upper, streamOf(makeTar([{ name: 'lnk/file', data: 'pwned' }, { name: 'hl', type: 'link', linkname: 'lnk/file' }])), { sync: false, convertWhiteout: 'overlay', lowers: [lower] });
  t.is(fs.readFileSync(`${upper}/sentinel/file`, 'utf8'), 'pwned');
  t.is(state(base, sentinel), before);
});

t0('hostile (root): a lower layer\'s symlink cannot leak a host file into an upper through hardlink copy-up → ERR_LAYER_APPLY_FAILED', async (t) => {
  const base = await tmp(t);
  const lower = `${base}/lower`;
  const upper = `${base}/upper`;
  const sentinel = `${base}/sentinel`;
  for (const d of [lower, upper, sentinel]) fs.mkdirSync(d);
  fs.writeFileSync(`${sentinel}/file`, 'secret');
  const before = state(base, sentinel);
  // The lower holds `a -> <host sentinel>`; the new layer makes `a/` a real directory and hardlinks `a/file`.
  await applyLayer(lower, streamOf(makeTar([{ name: 'a', type: 'symlink', linkname: sentinel }])), { sync: false });
  const err = await t.throwsAsync(applyLayer(upper, streamOf(makeTar([{ name: 'a/', type: 'directory' }, { name: 'x', type: 'link', linkname: 'a/file' }])), { sync: false, convertWhiteout: 'overlay', lowers: [lower] }), { code: 'ERR_LAYER_APPLY_FAILED' });
  t.is((err as unknown as { details: { entry: string } }).details.entry, 'x');
  t.false(fs.existsSync(`${upper}/a/file`));
  t.false(fs.existsSync(`${upper}/x`));
  t.is(state(base, sentinel), before);
});

t0('hostile (root): directory times are not restored through a parent replaced by a symlink later in the layer', async (t) => {
  const base = await tmp(t);
  const target = `${base}/target`;
  const sentinel = `${base}/sentinel`;
  fs.mkdirSync(target);
  fs.mkdirSync(`${sentinel}/inner`, { recursive: true });
  fs.writeFileSync(`${sentinel}/file`, 'sentinel');
  const before = fs.statSync(`${sentinel}/inner`).mtimeMs;
  const beforeState = state(base, sentinel);
  await applyLayer(target, streamOf(makeTar([
    { name: 'd/', type: 'directory' }, { name: 'd/inner/', type: 'directory', mtime: 1000 },
    { name: 'd', type: 'symlink', linkname: sentinel },
  ])), { sync: false });
  t.is(fs.statSync(`${sentinel}/inner`).mtimeMs, before);
  t.is(state(base, sentinel), beforeState);
});
