/**
 * Docker's default seccomp profile (moby `profiles/seccomp/default.json`)
 * as data, and its resolution for one container: the profile's rules carry
 * conditions (on the architecture, the container's capabilities and the
 * kernel version) that Docker's daemon (`setupSeccomp`) evaluates when it
 * makes the runtime spec, leaving a plain OCI `linux.seccomp`.
 */
import { InvalidSpecOptionError } from '../errors.js';
import type { LinuxSeccomp, LinuxSeccompArg, LinuxSyscall, RuntimeSpec } from '../runtime-spec.js';
import type { SpecOpt } from '../spec-opts.js';

/** A rule of a seccomp profile template: an OCI syscall rule with conditions, as in moby's profile format. */
export interface SeccompTemplateRule {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: LinuxSeccompArg[];
  /** The rule applies only when all of these hold: every capability present, the architecture one of `arches`, the kernel at least `minKernel`. */
  includes?: { caps?: string[]; arches?: string[]; minKernel?: string };
  /** The rule is left out when any capability listed is present or the architecture is listed. */
  excludes?: { caps?: string[]; arches?: string[] };
}

/** A seccomp profile template (moby's `types.Seccomp`): default action, architecture map, conditional rules. */
export interface SeccompTemplate {
  defaultAction: string;
  defaultErrnoRet?: number;
  /** Native `SCMP_ARCH_…` → the sub-architectures the filter also covers. */
  archMap: Array<{ architecture: string; subArchitectures: string[] }>;
  syscalls: SeccompTemplateRule[];
}

/** What a template is resolved for. */
export interface SeccompResolveOptions {
  /** The container's capabilities (its bounding set), `CAP_…` names. */
  capabilities: readonly string[];
  /** Go architecture name (`amd64`, `arm64`, …); default: this process's (`process.arch` mapped). */
  arch?: string;
  /** Kernel release (`6.1.0-…`) for `minKernel` conditions; without it they are taken as met. */
  kernel?: string;
}

const allowed = (names: string): string[] => names.trim().split(/\s+/);

/** Syscalls every container may make (the profile's unconditional allow list). */
const BASE_ALLOWED = allowed(`
accept accept4 access adjtimex alarm bind brk capget capset chdir chmod chown chown32 clock_adjtime clock_adjtime64
clock_getres clock_getres_time64 clock_gettime clock_gettime64 clock_nanosleep clock_nanosleep_time64 close close_range
connect copy_file_range creat dup dup2 dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2
epoll_wait epoll_wait_old eventfd eventfd2 execve execveat exit exit_group faccessat faccessat2 fadvise64 fadvise64_64
fallocate fanotify_mark fchdir fchmod fchmodat fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr flistxattr
flock fork fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64 futex
futex_time64 futex_waitv futimesat getcpu getcwd getdents getdents64 getegid getegid32 geteuid geteuid32 getgid getgid32
getgroups getgroups32 getitimer getpeername getpgid getpgrp getpid getppid getpriority getrandom getresgid getresgid32
getresuid getresuid32 getrlimit get_robust_list getrusage getsid getsockname getsockopt get_thread_area gettid
gettimeofday getuid getuid32 getxattr inotify_add_watch inotify_init inotify_init1 inotify_rm_watch io_cancel ioctl
io_destroy io_getevents io_pgetevents io_pgetevents_time64 ioprio_get ioprio_set io_setup io_submit io_uring_enter
io_uring_register io_uring_setup ipc kill landlock_add_rule landlock_create_ruleset landlock_restrict_self lchown
lchown32 lgetxattr link linkat listen listxattr llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64 madvise
membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall mmap mmap2 mprotect
mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64 mq_timedsend mq_timedsend_time64 mq_unlink mremap
msgctl msgget msgrcv msgsnd msync munlock munlockall munmap name_to_handle_at nanosleep newfstatat _newselect open openat
openat2 pause pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll ppoll_time64 prctl
pread64 preadv preadv2 prlimit64 process_mrelease pselect6 pselect6_time64 pwrite64 pwritev pwritev2 read readahead
readlink readlinkat readv recv recvfrom recvmmsg recvmmsg_time64 recvmsg remap_file_pages removexattr rename renameat
renameat2 restart_syscall rmdir rseq rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn
rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_getaffinity sched_getattr sched_getparam
sched_get_priority_max sched_get_priority_min sched_getscheduler sched_rr_get_interval sched_rr_get_interval_time64
sched_setaffinity sched_setattr sched_setparam sched_setscheduler sched_yield seccomp select semctl semget semop
semtimedop semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg sendto setfsgid setfsgid32 setfsuid setfsuid32
setgid setgid32 setgroups setgroups32 setitimer setpgid setpriority setregid setregid32 setresgid setresgid32 setresuid
setresuid32 setreuid setreuid32 setrlimit set_robust_list setsid setsockopt set_thread_area set_tid_address setuid
setuid32 setxattr shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4 sigprocmask sigreturn socketcall
socketpair splice stat stat64 statfs statfs64 statx symlink symlinkat sync sync_file_range syncfs sysinfo tee tgkill
time timer_create timer_delete timer_getoverrun timer_gettime timer_gettime64 timer_settime timer_settime64
timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime timerfd_settime64 times tkill truncate truncate64
ugetrlimit umask uname unlink unlinkat utime utimensat utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid
write writev
`);

const ALLOW = 'SCMP_ACT_ALLOW';
const arg = (index: number, value: number, op: string): LinuxSeccompArg => ({ index, value, op });
/** Namespace flags a process without CAP_SYS_ADMIN may not pass to clone (CLONE_NEWNS|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWCGROUP). */
const CLONE_NS_MASK = 0x7e020000;
const byCap = (cap: string, names: string): SeccompTemplateRule => ({ names: allowed(names), action: ALLOW, includes: { caps: [cap] } });
const byArch = (arches: string[], names: string): SeccompTemplateRule => ({ names: allowed(names), action: ALLOW, includes: { arches } });

/**
 * Docker's default seccomp profile (moby `profiles/seccomp/default.json`):
 * everything not allowed fails with EPERM; socket(AF_VSOCK) is refused;
 * personality only with the harmless personas; namespaces, mounts, module,
 * clock, reboot, ptrace and friends only with the capability that already
 * guards them; clone without namespace flags unless CAP_SYS_ADMIN; clone3
 * fails with ENOSYS without CAP_SYS_ADMIN (so libcs fall back to clone).
 */
export const DOCKER_DEFAULT_SECCOMP: SeccompTemplate = {
  defaultAction: 'SCMP_ACT_ERRNO',
  defaultErrnoRet: 1,
  archMap: [
    { architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] },
    { architecture: 'SCMP_ARCH_AARCH64', subArchitectures: ['SCMP_ARCH_ARM'] },
    { architecture: 'SCMP_ARCH_MIPS64', subArchitectures: ['SCMP_ARCH_MIPS', 'SCMP_ARCH_MIPS64N32'] },
    { architecture: 'SCMP_ARCH_MIPS64N32', subArchitectures: ['SCMP_ARCH_MIPS', 'SCMP_ARCH_MIPS64'] },
    { architecture: 'SCMP_ARCH_MIPSEL64', subArchitectures: ['SCMP_ARCH_MIPSEL', 'SCMP_ARCH_MIPSEL64N32'] },
    { architecture: 'SCMP_ARCH_MIPSEL64N32', subArchitectures: ['SCMP_ARCH_MIPSEL', 'SCMP_ARCH_MIPSEL64'] },
    { architecture: 'SCMP_ARCH_S390X', subArchitectures: ['SCMP_ARCH_S390'] },
    { architecture: 'SCMP_ARCH_RISCV64', subArchitectures: [] },
  ],
  syscalls: [
    { names: BASE_ALLOWED, action: ALLOW },
    { names: ['process_vm_readv', 'process_vm_writev', 'ptrace'], action: ALLOW, includes: { minKernel: '4.8' } },
    { names: ['socket'], action: ALLOW, args: [arg(0, 40, 'SCMP_CMP_NE')] },
    ...[0, 8, 0x20000, 0x20008, 0xffffffff].map((p): SeccompTemplateRule => ({ names: ['personality'], action: ALLOW, args: [arg(0, p, 'SCMP_CMP_EQ')] })),
    byArch(['ppc64le'], 'sync_file_range2 swapcontext'),
    byArch(['arm', 'arm64'], 'arm_fadvise64_64 arm_sync_file_range sync_file_range2 breakpoint cacheflush set_tls'),
    byArch(['amd64', 'x32'], 'arch_prctl'),
    byArch(['amd64', 'x32', 'x86'], 'modify_ldt'),
    byArch(['s390', 's390x'], 's390_pci_mmio_read s390_pci_mmio_write s390_runtime_instr'),
    byArch(['riscv64'], 'riscv_flush_icache'),
    byCap('CAP_DAC_READ_SEARCH', 'open_by_handle_at'),
    byCap('CAP_SYS_ADMIN', `bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie mount mount_setattr
      move_mount open_tree perf_event_open quotactl quotactl_fd setdomainname sethostname setns syslog umount umount2 unshare`),
    { names: ['clone'], action: ALLOW, args: [arg(0, CLONE_NS_MASK, 'SCMP_CMP_MASKED_EQ')], excludes: { caps: ['CAP_SYS_ADMIN'], arches: ['s390', 's390x'] } },
    { names: ['clone'], action: ALLOW, args: [arg(1, CLONE_NS_MASK, 'SCMP_CMP_MASKED_EQ')], includes: { arches: ['s390', 's390x'] }, excludes: { caps: ['CAP_SYS_ADMIN'] } },
    { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38, excludes: { caps: ['CAP_SYS_ADMIN'] } },
    byCap('CAP_SYS_BOOT', 'reboot'),
    byCap('CAP_SYS_CHROOT', 'chroot'),
    byCap('CAP_SYS_MODULE', 'delete_module init_module finit_module'),
    byCap('CAP_SYS_PACCT', 'acct'),
    byCap('CAP_SYS_PTRACE', 'kcmp pidfd_getfd process_madvise process_vm_readv process_vm_writev ptrace'),
    byCap('CAP_SYS_RAWIO', 'iopl ioperm'),
    byCap('CAP_SYS_TIME', 'settimeofday stime clock_settime clock_settime64'),
    byCap('CAP_SYS_TTY_CONFIG', 'vhangup'),
    byCap('CAP_SYS_NICE', 'get_mempolicy mbind set_mempolicy set_mempolicy_home_node'),
    byCap('CAP_SYSLOG', 'syslog'),
    byCap('CAP_BPF', 'bpf'),
    byCap('CAP_PERFMON', 'perf_event_open'),
  ],
};

/** Go architecture name → libseccomp's native architecture (moby's `nativeToSeccomp`). */
const NATIVE_TO_SECCOMP: Record<string, string> = {
  amd64: 'SCMP_ARCH_X86_64', arm64: 'SCMP_ARCH_AARCH64', mips64: 'SCMP_ARCH_MIPS64', mips64n32: 'SCMP_ARCH_MIPS64N32',
  mipsel64: 'SCMP_ARCH_MIPSEL64', mips64le: 'SCMP_ARCH_MIPSEL64', mipsel64n32: 'SCMP_ARCH_MIPSEL64N32', s390x: 'SCMP_ARCH_S390X',
  riscv64: 'SCMP_ARCH_RISCV64',
};

/** Node's `process.arch` → Go's name. */
const NODE_TO_GO: Record<string, string> = {
  x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: 'x86', s390x: 's390x', ppc64: 'ppc64le', riscv64: 'riscv64', mips64el: 'mips64le',
};

function kernelAtLeast(release: string, min: string): boolean {
  const parse = (v: string) => (/^(\d+)\.(\d+)/.exec(v) ?? []).slice(1).map(Number);
  const [a = 0, b = 0] = parse(release);
  const [x = 0, y = 0] = parse(min);
  return a > x || (a === x && b >= y);
}

/**
 * Resolves a template for one container, as Docker's daemon does
 * (`profiles/seccomp.setupSeccomp`): the native architecture and its
 * sub-architectures from `archMap`; each rule kept when its `includes` all
 * hold and none of its `excludes` does; conditions dropped.
 */
export function resolveSeccompProfile(template: SeccompTemplate, opts: SeccompResolveOptions): LinuxSeccomp {
  const arch = opts.arch ?? NODE_TO_GO[process.arch] ?? process.arch;
  const caps = new Set(opts.capabilities);
  const native = NATIVE_TO_SECCOMP[arch];
  const architectures: string[] = [];
  for (const a of template.archMap) {
    if (native !== undefined && a.architecture === native) architectures.push(a.architecture, ...a.subArchitectures);
  }
  const syscalls: LinuxSyscall[] = [];
  for (const r of template.syscalls) {
    const inc = r.includes ?? {};
    const exc = r.excludes ?? {};
    if (inc.arches?.length && !inc.arches.includes(arch)) continue;
    if (inc.caps?.some((c) => !caps.has(c))) continue;
    if (inc.minKernel && opts.kernel && !kernelAtLeast(opts.kernel, inc.minKernel)) continue;
    if (exc.arches?.includes(arch)) continue;
    if (exc.caps?.some((c) => caps.has(c))) continue;
    syscalls.push({
      names: [...r.names], action: r.action, ...(r.errnoRet !== undefined ? { errnoRet: r.errnoRet } : {}),
      ...(r.args?.length ? { args: r.args.map((x) => ({ ...x })) } : {}),
    });
  }
  return {
    defaultAction: template.defaultAction, ...(template.defaultErrnoRet !== undefined ? { defaultErrnoRet: template.defaultErrnoRet } : {}),
    ...(architectures.length ? { architectures } : {}), syscalls,
  };
}

/**
 * Sets Docker's default seccomp profile (or `template`), resolved for the
 * spec's bounding capabilities when the option is applied: apply it after
 * the capability options (`withAddedCapabilities`, `withDroppedCapabilities`).
 * Docker applies it to every container unless `--privileged` or
 * `--security-opt seccomp=unconfined`.
 */
export function withDefaultSeccomp(opts: { arch?: string; kernel?: string; template?: SeccompTemplate } = {}): SpecOpt {
  const template = opts.template ?? DOCKER_DEFAULT_SECCOMP;
  if (typeof template?.defaultAction !== 'string' || !template.defaultAction.startsWith('SCMP_ACT_')) {
    throw new InvalidSpecOptionError('withDefaultSeccomp', 'the template needs a SCMP_ACT_ defaultAction');
  }
  return (spec: RuntimeSpec) => {
    spec.linux ??= {};
    spec.linux.seccomp = resolveSeccompProfile(template, {
      capabilities: spec.process?.capabilities?.bounding ?? [], ...(opts.arch ? { arch: opts.arch } : {}), ...(opts.kernel ? { kernel: opts.kernel } : {}),
    });
  };
}
