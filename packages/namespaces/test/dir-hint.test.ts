import test from 'ava';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { markTopDirectory, SystemCallError } from '@berth/namespaces';

/** The filesystem type of `p`, from `stat -f`. */
function fsType(p: string): string {
  return execFileSync('stat', ['-f', '-c', '%T', p], { encoding: 'utf8' }).trim();
}

const tmpIsExt = fsType(os.tmpdir()).startsWith('ext');

(tmpIsExt ? test : test.skip)('markTopDirectory sets FS_TOPDIR_FL on ext4 (lsattr shows T), and again is a no-op', (t) => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-topdir-'));
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  t.true(markTopDirectory(d));
  const attrs = execFileSync('lsattr', ['-d', d], { encoding: 'utf8' }).split(' ')[0]!;
  t.true(attrs.includes('T'), attrs);
  t.true(markTopDirectory(d));
});

test('markTopDirectory returns false on a filesystem without the flag (tmpfs)', (t) => {
  if (fsType('/dev/shm') !== 'tmpfs') { t.pass('no tmpfs at /dev/shm'); return; }
  const d = fs.mkdtempSync('/dev/shm/berth-topdir-');
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  t.false(markTopDirectory(d));
});

test('markTopDirectory of a missing path or a file is a SystemCallError', (t) => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-topdir-'));
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  const missing = t.throws(() => markTopDirectory(`${d}/missing`));
  t.true(missing instanceof SystemCallError);
  t.is((missing as SystemCallError).errnoCode, 'ENOENT');
  fs.writeFileSync(`${d}/file`, 'x');
  const file = t.throws(() => markTopDirectory(`${d}/file`));
  t.is((file as SystemCallError).errnoCode, 'ENOTDIR');
});
