/**
 * Runs the unpack-layer program for real on the fixture image layers (gzip,
 * zstd, plain) and on hostile tars made with GNU tar, and checks the trees it
 * writes against `tar -tzf` listings and the image config's diff_ids.
 */
import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fixture, fixtureBlobPath, readFixtureManifest, tempDir, type FixtureImage, type TempDir } from '@berth/testkit';

const program = path.resolve(import.meta.dirname, '../src/main.js');
const isRoot = process.getuid?.() === 0;

/** Runs the program (stdin from a file when given); resolves with its exit code and output. */
function unpackLayer(args: string[], stdinFile?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const stdin = stdinFile ? fs.openSync(stdinFile, 'r') : 'ignore';
    const child = spawn(process.execPath, [program, ...args], { stdio: [stdin, 'pipe', 'pipe'] });
    if (typeof stdin === 'number') fs.closeSync(stdin);
    let stdout = '', stderr = '';
    child.stdout!.on('data', (d) => { stdout += d; });
    child.stderr!.on('data', (d) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The layer files of a fixture image, lowest first, and the diff_ids its config lists. */
function layersOf(f: FixtureImage): { files: string[]; diffIds: string[] } {
  const m = JSON.parse(readFixtureManifest(f).bytes.toString()) as { config: { digest: string }; layers: { digest: string }[] };
  const config = JSON.parse(fs.readFileSync(fixtureBlobPath(f, m.config.digest), 'utf8')) as { rootfs: { diff_ids: string[] } };
  return { files: m.layers.map((l) => fixtureBlobPath(f, l.digest)), diffIds: config.rootfs.diff_ids };
}

const exists = (p: string): boolean => fs.lstatSync(p, { throwIfNoEntry: false }) !== undefined;

let tmp: TempDir;
test.before(async () => { tmp = await tempDir('unpack-layer-'); });
test.after.always(async () => { await tmp?.cleanup(); });

test('applies the four gzip layers of multilayer: diffIds are the config\'s diff_ids, every tar -tzf entry is there, whiteouts applied', async (t) => {
  const { files, diffIds } = layersOf(fixture('multilayer', 'oci-gzip'));
  const target = path.join(tmp.path, 'gzip');
  const r = await unpackLayer([target, ...files]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, files.map((f, i) => `${diffIds[i]}  ${f}\n`).join(''));
  t.regex(r.stderr, /: gzip, \d+ entries, \d+ → \d+ bytes\n/);

  // GNU tar's own listing of the two top layers (no later layer touches their paths): all there but the whiteouts.
  for (const layer of files.slice(2)) {
    const names = execFileSync('tar', ['-tzf', layer], { encoding: 'utf8' }).split('\n').filter(Boolean);
    t.true(names.length > 5);
    for (const name of names.filter((n) => !path.basename(n).startsWith('.wh.'))) t.true(exists(path.join(target, name)), name);
  }
  // What the whiteouts and the opaque directories removed (scripts/testkit README).
  for (const gone of ['data/del-file.txt', 'data/del-dir', 'bin/vi', 'usr/sbin', 'data/opaque/old1.txt']) t.false(exists(path.join(target, gone)), gone);
  t.deepEqual(fs.readdirSync(path.join(target, 'data/opaque')), ['new.txt']);
  t.deepEqual(fs.readdirSync(path.join(target, 'data/file-to-dir')), ['inside.txt']);
  t.is(fs.statSync(path.join(target, 'data/hardlink-to-lower.txt')).ino, fs.statSync(path.join(target, 'data/hardlink-target.txt')).ino);
  t.is(fs.lstatSync(path.join(target, 'data/setuid-busybox')).mode & 0o7777, 0o4755);
  if (isRoot) t.is(fs.lstatSync(path.join(target, 'data/user-owned.txt')).uid, 1000);
});

test('a zstd layer and a plain tar on stdin give the gzip layer\'s diffId; a plain tar\'s diffId is its sha256sum', async (t) => {
  const zstd = layersOf(fixture('busybox', 'oci-zstd'));
  const r = await unpackLayer([path.join(tmp.path, 'zstd'), zstd.files[0]!]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, `${zstd.diffIds[0]}  ${zstd.files[0]}\n`);
  t.regex(r.stderr, /: zstd, \d+ entries/);

  const plain = path.join(tmp.path, 'layer.tar');
  const gz = layersOf(fixture('busybox', 'oci-gzip'));
  fs.writeFileSync(plain, execFileSync('gzip', ['-dc', gz.files[0]!], { maxBuffer: 64 << 20 }));
  const sha256sum = execFileSync('sha256sum', [plain], { encoding: 'utf8' }).split(' ')[0];
  const p = await unpackLayer([path.join(tmp.path, 'plain'), '-'], plain);
  t.is(p.code, 0, p.stderr);
  t.is(p.stdout, `sha256:${sha256sum}  -\n`);
  t.is(`sha256:${sha256sum}`, gz.diffIds[0]);
  t.is(gz.diffIds[0], zstd.diffIds[0], 'the same layer, compressed two ways');
  t.regex(p.stderr, /^-: none, /);
  t.true(fs.statSync(path.join(tmp.path, 'plain/bin/busybox')).isFile());
});

test('hostile tars: a ../ name and a ../ hardlink are refused with their codes; a symlinked parent stays inside the target', async (t) => {
  const dir = path.join(tmp.path, 'hostile');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'a'), 'x');
  fs.linkSync(path.join(dir, 'a'), path.join(dir, 'b'));
  // GNU tar with -P keeps ../ in names; the transform flags RS rewrite only hardlink targets.
  execFileSync('tar', ['-C', dir, '-cPf', `${dir}/dotdot.tar`, '--transform', 's,^,../,', 'a']);
  execFileSync('tar', ['-C', dir, '-cPf', `${dir}/hardlink.tar`, '--transform', 's,^a$,../victim,RS', 'a', 'b']);

  const target = path.join(tmp.path, 'hostile-target');
  const r = await unpackLayer([target, `${dir}/dotdot.tar`]);
  t.is(r.code, 1);
  t.regex(r.stderr, /"\.\.\/a".*\[ERR_LAYER_PATH_ESCAPE\]\n$/);
  t.false(exists(path.join(tmp.path, 'a')));
  const h = await unpackLayer([target, `${dir}/hardlink.tar`]);
  t.is(h.code, 1);
  t.regex(h.stderr, /\[ERR_LAYER_LINK_ESCAPE\]\n$/);

  // Layer 1 plants `link -> <an absolute host dir>`, layer 2 writes `link/pwned`: it lands under the target.
  const outside = path.join(tmp.path, 'outside');
  fs.mkdirSync(outside);
  fs.symlinkSync(outside, path.join(dir, 'link'));
  execFileSync('tar', ['-C', dir, '-cf', `${dir}/symlink.tar`, 'link']);
  fs.mkdirSync(path.join(dir, 'x/link'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'x/link/pwned'), 'pwned');
  execFileSync('tar', ['-C', path.join(dir, 'x'), '-cf', `${dir}/through-link.tar`, 'link/pwned']);
  const s = await unpackLayer([path.join(tmp.path, 'symlink-target'), `${dir}/symlink.tar`, `${dir}/through-link.tar`]);
  t.is(s.code, 0, s.stderr);
  t.deepEqual(fs.readdirSync(outside), [], 'nothing written through the symlink on the host');
  t.is(fs.readFileSync(path.join(tmp.path, 'symlink-target', outside, 'pwned'), 'utf8'), 'pwned');
});

(isRoot ? test : test.skip)('--no-devices refuses a char device with ERR_LAYER_DEVICE_NOT_PERMITTED; by default it is made (root)', async (t) => {
  const dir = path.join(tmp.path, 'dev');
  fs.mkdirSync(dir);
  execFileSync('mknod', [path.join(dir, 'null'), 'c', '1', '3']);
  execFileSync('tar', ['-C', dir, '-czf', `${dir}.tar.gz`, 'null']);
  const r = await unpackLayer(['--no-devices', path.join(tmp.path, 'dev-refused'), `${dir}.tar.gz`]);
  t.is(r.code, 1);
  t.regex(r.stderr, /\[ERR_LAYER_DEVICE_NOT_PERMITTED\]\n$/);
  const ok = await unpackLayer([path.join(tmp.path, 'dev-made'), `${dir}.tar.gz`]);
  t.is(ok.code, 0, ok.stderr);
  const st = fs.lstatSync(path.join(tmp.path, 'dev-made/null'));
  t.true(st.isCharacterDevice());
  t.is(st.rdev, fs.statSync('/dev/null').rdev);
});

test('usage errors exit 2; a missing layer file exits 1 with its errno code', async (t) => {
  const u = await unpackLayer([path.join(tmp.path, 'only-target')]);
  t.is(u.code, 2);
  t.regex(u.stderr, /^unpack-layer: expected TARGET and at least one LAYER\n\nusage: unpack-layer/);
  const m = await unpackLayer([path.join(tmp.path, 'missing'), path.join(tmp.path, 'no-such-layer.tar')]);
  t.is(m.code, 1);
  t.regex(m.stderr, /\[ENOENT\]\n$/);
});

test('the program imports one berth package, @berth/cow-fs, by its public entry point only', (t) => {
  const imports = [...fs.readFileSync(program, 'utf8').matchAll(/from '(@berth\/[^']*)'/g)].map((m) => m[1]);
  t.deepEqual([...new Set(imports)], ['@berth/cow-fs']);
  const pkg = JSON.parse(fs.readFileSync(path.resolve(import.meta.dirname, '../../package.json'), 'utf8'));
  t.deepEqual(Object.keys(pkg.dependencies), ['@berth/cow-fs']);
});
