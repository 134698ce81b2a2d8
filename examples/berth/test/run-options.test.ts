import test from 'ava';
import fs from 'node:fs/promises';
import path from 'node:path';
import { createOptionsFrom, parseCommandLine, rootCommand, exitCodeForError, CliUsageError, CliErrorCode } from '@berth/example-berth';
import { BerthError } from '@berth/oci-spec';
import { tempDir } from './helpers/cli.js';

const parse = (argv: string[]) => createOptionsFrom(parseCommandLine(rootCommand, argv).cmd, { HOME_VAR: 'h' }, '/work');

test('run flags become the engine create options', async (t) => {
  const dir = await tempDir();
  const envFile = path.join(dir, 'env');
  await fs.writeFile(envFile, '# comment\nFROM_FILE=1\nHOME_VAR\n\nMISSING\n');
  const o = parse(['run', '-d', '--rm', '--name', 'web', '-e', 'A=1', '-e', 'HOME_VAR', '-e', 'UNSET', '--env-file', envFile,
    '-v', 'data:/data:ro', '-v', './conf:/etc/conf', '--mount', 'type=tmpfs,target=/cache,tmpfs-size=1m', '--tmpfs', '/run',
    '-p', '127.0.0.1:8080:80', '-p', '53:53/udp', '--network', 'front', '--network-alias', 'www', '-w', '/srv', '-u', '1000:1000',
    '--memory', '64m', '--cpus', '1.5', '--pids-limit', '100', '--entrypoint', '/bin/sh', '-l', 'tier=web', 'busybox', '-c', 'echo hi']);
  t.is(o.image, 'busybox');
  t.deepEqual(o.cmd, ['-c', 'echo hi']);
  t.deepEqual(o.entrypoint, ['/bin/sh']);
  t.deepEqual(o.env, ['FROM_FILE=1', 'HOME_VAR=h', 'A=1', 'HOME_VAR=h']);
  t.deepEqual(o.mounts.map((m) => `${m.Type}:${m.Source}:${m.Target}:${m.ReadOnly}`), ['volume:data:/data:true', 'bind:/work/conf:/etc/conf:false', 'tmpfs::/cache:false', 'tmpfs::/run:false']);
  t.deepEqual(o.publish, [{ hostIP: '127.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'tcp' }, { hostIP: '', hostPort: 53, containerPort: 53, protocol: 'udp' }]);
  t.is(o.networkMode, 'front');
  t.deepEqual(o.networkAliases, ['www']);
  t.is(o.memory, 64 * 1024 * 1024);
  t.is(o.nanoCpus, 1.5e9);
  t.is(o.pidsLimit, 100);
  t.true(o.autoRemove);
  t.deepEqual(o.labels, { tier: 'web' });
  t.is(o.workingDir, '/srv');
  t.is(o.user, '1000:1000');
  t.deepEqual(parse(['run', '--entrypoint', '', 'img']).entrypoint, []);
  t.is(parse(['run', 'img']).cmd, undefined);
  t.deepEqual(parse(['run', '--security-opt', 'seccomp=unconfined', '--security-opt', 'no-new-privileges', 'img']).securityOpt, ['seccomp=unconfined', 'no-new-privileges']);
  t.is(parse(['run', 'img']).securityOpt, undefined);
});

test('bad run flags fail with typed errors before anything runs', (t) => {
  t.throws(() => parse(['run', '-v', 'data:relative', 'img']), { code: 'ERR_ENGINE_INVALID_MOUNT' });
  t.throws(() => parse(['run', '-p', '99999:80', 'img']), { code: 'ERR_ENGINE_INVALID_PORT' });
  t.throws(() => parse(['run', '--memory', 'lots', 'img']), { code: 'ERR_ENGINE_INVALID_MOUNT' });
  t.throws(() => parse(['run', '--cpus', 'x', 'img']), { code: 'ERR_CLI_INVALID_VALUE' });
  t.throws(() => parse(['run', '--rm', '--restart', 'always', 'img']), { code: 'ERR_CLI_INVALID_VALUE' });
  t.throws(() => parse(['run', '-v', '/a:/x', '--tmpfs', '/x', 'img']), { code: 'ERR_CLI_INVALID_VALUE' });
  t.throws(() => parse(['run', '--env-file', '/nonexistent/env', 'img']), { code: 'ERR_CLI_INVALID_VALUE' });
});

test("docker's exit codes for errors", (t) => {
  t.is(exitCodeForError(new CliUsageError(CliErrorCode.UnknownFlag, 'berth ps', 'x'), ['ps']), 125);
  t.is(exitCodeForError(new BerthError('ERR_ENGINE_NOT_IMPLEMENTED', 'not-implemented', 'x'), ['run']), 125);
  t.is(exitCodeForError(new BerthError('ERR_ENGINE_VOLUME_NOT_FOUND', 'not-found', 'x'), ['volume', 'inspect']), 1);
  t.is(exitCodeForError(new BerthError('ERR_NS_EXEC_NOT_FOUND', 'not-found', 'x'), ['run']), 127);
  t.is(exitCodeForError(new BerthError('ERR_NS_EXEC_FAILED', 'failed-precondition', 'x', { details: { errnoCode: 'EACCES' } }), ['run']), 126);
  t.is(exitCodeForError(new Error('boom'), ['exec']), 125);
});
