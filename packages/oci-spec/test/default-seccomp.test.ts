import test from 'ava';
import {
  DEFAULT_CAPABILITIES, DOCKER_DEFAULT_SECCOMP, generateSpec, resolveSeccompProfile, validateRuntimeSpec, withAddedCapabilities,
  withDefaultSeccomp, withPrivileged, type LinuxSyscall,
} from '@berth/oci-spec';

const ruleFor = (rules: LinuxSyscall[] | undefined, name: string) => (rules ?? []).filter((r) => r.names.includes(name));

test('Docker\'s default profile for Docker\'s default capabilities on amd64: EPERM by default, no mount/unshare/reboot, clone without namespace flags, clone3 ENOSYS', (t) => {
  const p = resolveSeccompProfile(DOCKER_DEFAULT_SECCOMP, { capabilities: DEFAULT_CAPABILITIES, arch: 'amd64', kernel: '6.1.0-18-amd64' });
  t.is(p.defaultAction, 'SCMP_ACT_ERRNO');
  t.is(p.defaultErrnoRet, 1);
  t.deepEqual(p.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
  for (const n of ['read', 'execve', 'arch_prctl', 'modify_ldt', 'chroot', 'ptrace']) t.true(ruleFor(p.syscalls, n).length > 0, n);
  for (const n of ['mount', 'unshare', 'setns', 'reboot', 'swapon', 'keyctl', 'init_module', 'set_tls', 'riscv_flush_icache']) t.deepEqual(ruleFor(p.syscalls, n), [], n);
  t.deepEqual(ruleFor(p.syscalls, 'clone'), [{ names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0x7e020000, op: 'SCMP_CMP_MASKED_EQ' }] }]);
  t.deepEqual(ruleFor(p.syscalls, 'clone3'), [{ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 }]);
  t.deepEqual(ruleFor(p.syscalls, 'socket'), [{ names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 40, op: 'SCMP_CMP_NE' }] }]);
  t.is(ruleFor(p.syscalls, 'personality').length, 5);
});

test('capabilities and arch decide the conditional rules; an old kernel loses the minKernel rule', (t) => {
  const admin = resolveSeccompProfile(DOCKER_DEFAULT_SECCOMP, { capabilities: [...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT'], arch: 'arm64' });
  t.deepEqual(admin.architectures, ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
  for (const n of ['mount', 'unshare', 'clone3', 'reboot', 'set_tls']) t.true(ruleFor(admin.syscalls, n).some((r) => r.action === 'SCMP_ACT_ALLOW' && !r.args), n);
  t.deepEqual(ruleFor(admin.syscalls, 'arch_prctl'), []);
  t.false(ruleFor(admin.syscalls, 'clone').some((r) => r.args), 'no masked clone rule with CAP_SYS_ADMIN');
  const none = resolveSeccompProfile(DOCKER_DEFAULT_SECCOMP, { capabilities: [], arch: 'amd64', kernel: '4.4.0' });
  t.deepEqual(ruleFor(none.syscalls, 'ptrace'), []);
  t.deepEqual(ruleFor(none.syscalls, 'chroot'), []);
});

test('withDefaultSeccomp resolves for the spec\'s capabilities when applied; the spec validates; withPrivileged after it removes it', (t) => {
  const spec = generateSpec(withAddedCapabilities(['CAP_SYS_ADMIN']), withDefaultSeccomp({ arch: 'amd64' }));
  t.true(ruleFor(spec.linux!.seccomp!.syscalls, 'mount').length > 0);
  t.notThrows(() => validateRuntimeSpec(spec));
  const plain = generateSpec(withDefaultSeccomp({ arch: 'amd64' }));
  t.deepEqual(ruleFor(plain.linux!.seccomp!.syscalls, 'mount'), []);
  t.is(generateSpec(withDefaultSeccomp(), withPrivileged()).linux!.seccomp, undefined);
  t.throws(() => withDefaultSeccomp({ template: { ...DOCKER_DEFAULT_SECCOMP, defaultAction: 'ALLOW' } }), { code: 'ERR_OCI_INVALID_SPEC_OPTION' });
});
