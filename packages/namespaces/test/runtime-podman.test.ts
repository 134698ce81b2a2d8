import test from 'ava';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { runtimeBinaryPath } from '@berth/namespaces';
import { commandExists, fixture, fixtureTransportRef, tempDir } from '@berth/testkit';

const run = promisify(execFile);
const ok = process.getuid?.() === 0 && await commandExists('podman') && fs.existsSync(runtimeBinaryPath);
const podmanTest = ok ? test.serial : test.skip;

/** podman with its own config, storage and runroot in a temp dir (see DEVELOPERS.md). */
async function podman(dir: string) {
  fs.writeFileSync(path.join(dir, 'containers.conf'), [
    '[containers]', 'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]',
    '[engine]', 'cgroup_manager = "cgroupfs"', 'events_logger = "file"', 'lock_type = "file"',
    '[network]', 'network_backend = "cni"', 'cni_plugin_dirs = ["/usr/lib/cni"]', '',
  ].join('\n'));
  fs.writeFileSync(path.join(dir, 'storage.conf'), `[storage]\ndriver = "overlay"\ngraphroot = "${dir}/graph"\nrunroot = "${dir}/run"\n`);
  fs.writeFileSync(path.join(dir, 'registries.conf'), 'unqualified-search-registries = []\n');
  const env = {
    ...process.env,
    CONTAINERS_CONF: path.join(dir, 'containers.conf'),
    CONTAINERS_STORAGE_CONF: path.join(dir, 'storage.conf'),
    CONTAINERS_REGISTRIES_CONF: path.join(dir, 'registries.conf'),
  };
  const base = ['--root', `${dir}/graph`, '--runroot', `${dir}/run`, '--tmpdir', `${dir}/tmp`];
  return (args: string[]) => run('podman', [...base, ...args], { env });
}

podmanTest('podman --runtime berth-runtime run --rm <fixture busybox> echo hi (cgroupfs manager)', async (t) => {
  const dir = await tempDir('berth-podman-');
  const pm = await podman(dir.path);
  try {
    const image = fixtureTransportRef(fixture('busybox', 'oci-gzip'));
    await pm(['pull', '-q', image]);
    const r = await pm(['--runtime', runtimeBinaryPath, 'run', '--rm', '--network=none', image, 'echo', 'hi']);
    t.is(r.stdout, 'hi\n');
    const r2 = await pm(['--runtime', runtimeBinaryPath, 'run', '--rm', '--network=none', '--hostname', 'pm', '-u', '1000', image, 'sh', '-c', 'hostname; id -u; echo $$']);
    t.is(r2.stdout, 'pm\n1000\n1\n');
    const r3 = await pm(['--runtime', runtimeBinaryPath, 'run', '--rm', '--network=none', image, 'sh', '-c', 'exit 7']).catch((e: { code: number }) => e);
    t.is((r3 as { code: number }).code, 7);
    // -t: conmon gets the pty master over --console-socket.
    const r4 = await pm(['--runtime', runtimeBinaryPath, 'run', '--rm', '-t', '--network=none', image, 'tty']);
    t.is(r4.stdout, '/dev/pts/0\r\n');
  } finally {
    await pm(['rm', '-af']).catch(() => undefined);
    await run("sh", ["-c", `grep -o " ${dir.path}[^ ]*" /proc/self/mountinfo | sort -r | xargs -r umount -l`]).catch(() => undefined);
    await dir.cleanup();
  }
});
