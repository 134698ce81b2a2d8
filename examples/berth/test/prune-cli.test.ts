/**
 * `berth system prune` and the prunes it is made of, through the CLI with real
 * containers: what goes (stopped containers, unused networks, dangling or
 * unused images, anonymous volumes with --volumes), what stays (what a
 * running container uses), filters, the prompt, docker's output.
 */
import fs from 'node:fs';
import { berth, useCliEnv, type CliEnv } from './helpers/cli.js';

let env: CliEnv;
const serial = useCliEnv({ pull: true }, (e) => { env = e; });

serial('system prune removes stopped containers, unused networks and dangling images (with -a unused ones, with --volumes anonymous volumes), keeps what a running container uses, honours filters and the prompt (root)', async (t) => {
  const { dir, ref } = env;
  const b = (...args: string[]) => berth(dir, args);
  const ok = async (...args: string[]) => {
    const r = await b(...args);
    t.is(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const keep = await ok('run', '-d', '--name', 'keep', '--network', 'none', ref, 'sleep', '300');
  t.teardown(() => b('rm', '-f', 'keep'));
  const gone = (await ok('create', '--name', 'gone', '--network', 'none', '-v', '/data', ref, 'sh', '-c', 'dd if=/dev/zero of=/big bs=1k count=200 2>/dev/null')).trim();
  t.is((await b('start', '-a', 'gone')).code, 0);
  const labelled = await ok('create', '--name', 'labelled', '--label', 'keep=yes', '--network', 'none', ref, 'true');
  const anon = (await ok('volume', 'ls', '-q')).split('\n');
  t.is(anon.length, 1, 'gone\'s anonymous volume');
  await ok('network', 'create', 'unused-net');
  const first = await ok('commit', keep, 'mine:1');
  const second = await ok('commit', '-c', 'ENV A=1', keep, 'mine:1');
  t.not(first, second);
  t.is(await ok('images', '--filter', 'dangling=true', '-q', '--no-trunc'), first, 'the image mine:1 named before is dangling (<none>:<none>), as docker leaves it');
  const unnamed = await ok('commit', keep);
  t.regex(unnamed, /^sha256:[0-9a-f]{64}$/, 'commit without a name prints the new image\'s id');
  t.deepEqual((await ok('images', '--filter', 'dangling=true', '-q', '--no-trunc')).split('\n').sort(), [first, unnamed].sort(), 'and the image is dangling');

  // The prompt: "n" removes nothing.
  const declined = await berth(dir, ['system', 'prune'], 'n\n');
  t.is(declined.code, 0);
  t.is(declined.stdout, [
    'WARNING! This will remove:', '  - all stopped containers', '  - all networks not used by at least one container', '  - all dangling images', '',
    'Are you sure you want to continue? [y/N] ',
  ].join('\n'));
  t.is((await ok('ps', '-aq', '--no-trunc')).split('\n').length, 3);

  // A filter applies to each prune: nothing carries label nope=1 (the store's collection may still free unreferenced blobs).
  t.regex(await ok('system', 'prune', '-f', '--filter', 'label=nope=1'), /^Total reclaimed space: \S+$/);
  t.is((await ok('ps', '-aq', '--no-trunc')).split('\n').length, 3);
  // label!=keep=yes: all but the labelled container.
  const pruned = await ok('system', 'prune', '-f', '--filter', 'label!=keep=yes');
  const m = /^Deleted Containers:\n([0-9a-f]{64})\n\nDeleted Networks:\nunused-net\n\nDeleted Images:\ndeleted: (sha256:[0-9a-f]{64})\ndeleted: (sha256:[0-9a-f]{64})\n\nTotal reclaimed space: (\S+)$/.exec(pruned);
  t.truthy(m, pruned);
  t.is(m![1], gone);
  t.deepEqual([m![2], m![3]].sort(), [first, unnamed].sort(), 'the dangling images, and no other');
  t.regex(m![4]!, /^\d+(\.\d+)?(kB|MB)$/, 'gone\'s 200 kB and the images are reclaimed');
  t.deepEqual((await ok('ps', '-aq', '--no-trunc')).split('\n').sort(), [keep, labelled].sort());
  t.deepEqual((await ok('volume', 'ls', '-q')).split('\n'), anon, 'volumes stay without --volumes');
  t.regex(await ok('images', '--format', '{{.Repository}}:{{.Tag}}'), /mine:1/);

  const bad = await b('system', 'prune', '-f', '--volumes', '--filter', 'until=1h');
  t.not(bad.code, 0);
  t.regex(bad.stderr, /"until" filter is not supported with "--volumes"/);
  t.regex((await b('system', 'prune', '-f', '--filter', 'nosuch=1')).stderr, /ERR_ENGINE_INVALID_FILTER/);

  // --volumes: the anonymous volume gone's removal left; -a: mine:1, which no container uses (busybox: keep uses it).
  const all = await ok('system', 'prune', '-af', '--volumes');
  t.regex(all, new RegExp(`^Deleted Containers:\\n${labelled}\\n\\nDeleted Volumes:\\n${anon[0]}\\n\\nDeleted Images:\\nuntagged: mine:1\\ndeleted: ${second}\\n`));
  t.is(await ok('volume', 'ls', '-q'), '');
  t.is(await ok('images', '--format', '{{.Repository}}:{{.Tag}}'), ref);
  t.is(await ok('ps', '-aq', '--no-trunc'), keep, 'the running container stays');
  t.is((await b('rm', '-f', 'keep')).code, 0);
  // Nothing of theirs is left mounted.
  t.false(fs.readFileSync('/proc/mounts', 'utf8').includes(gone));
});
