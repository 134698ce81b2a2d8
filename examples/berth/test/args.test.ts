import test from 'ava';
import { parseCommandLine, parseFlags, rootCommand, helpText, type FlagSpec } from '@berth/example-berth';

const specs: FlagSpec[] = [
  { long: 'interactive', short: 'i', type: 'bool', help: '' },
  { long: 'tty', short: 't', type: 'bool', help: '' },
  { long: 'env', short: 'e', type: 'list', help: '' },
  { long: 'publish', short: 'p', type: 'list', help: '' },
  { long: 'name', type: 'string', help: '' },
  { long: 'pids-limit', type: 'int', help: '' },
];

test('bundled shorts, --flag=value, attached values, repeated flags, --', (t) => {
  const r = parseFlags('x', specs, ['-it', '--name=web', '-e', 'A=1', '-eB=2', '-e=C=3', '-p8080:80', '--pids-limit', '10', 'img', '--', '-x']);
  t.is(r.flags.interactive, true);
  t.is(r.flags.tty, true);
  t.is(r.flags.name, 'web');
  t.deepEqual(r.flags.env, ['A=1', 'B=2', 'C=3']);
  t.deepEqual(r.flags.publish, ['8080:80']);
  t.is(r.flags['pids-limit'], 10);
  t.deepEqual(r.args, ['img', '-x']);
  t.deepEqual(parseFlags('x', specs, ['-t=false', '-i']).flags.tty, false);
  t.deepEqual(parseFlags('x', specs, ['a', '--tty', 'b']).args, ['a', 'b'], 'flags intersperse by default');
});

test('errors: unknown flags, missing values, bad values', (t) => {
  t.throws(() => parseFlags('x', specs, ['--nope']), { code: 'ERR_CLI_UNKNOWN_FLAG' });
  t.throws(() => parseFlags('x', specs, ['-iz']), { code: 'ERR_CLI_UNKNOWN_FLAG' });
  t.throws(() => parseFlags('x', specs, ['--name']), { code: 'ERR_CLI_MISSING_VALUE' });
  t.throws(() => parseFlags('x', specs, ['-e']), { code: 'ERR_CLI_MISSING_VALUE' });
  t.throws(() => parseFlags('x', specs, ['--pids-limit', 'ten']), { code: 'ERR_CLI_INVALID_VALUE' });
  t.throws(() => parseFlags('x', specs, ['--tty=maybe']), { code: 'ERR_CLI_INVALID_VALUE' });
});

test('command tree: global flags before the command, run stops parsing at the image', (t) => {
  const { cmd } = parseCommandLine(rootCommand, ['--root', '/r', '-D', 'run', '-it', '--rm', '-e', 'X=1', 'busybox', 'ls', '-l', '--color']);
  t.deepEqual(cmd.path, ['run']);
  t.is(cmd.globals.root, '/r');
  t.is(cmd.globals.debug, true);
  t.true(cmd.flags.rm as boolean);
  t.deepEqual(cmd.args, ['busybox', 'ls', '-l', '--color']);
  t.deepEqual(parseCommandLine(rootCommand, ['volume', 'ls', '-q']).cmd.path, ['volume', 'ls']);
  t.deepEqual(parseCommandLine(rootCommand, ['network', 'list']).cmd.path, ['network', 'ls'], 'aliases');
  t.deepEqual(parseCommandLine(rootCommand, ['container', 'ls', '-a']).cmd.flags.all, true);
  t.deepEqual(parseCommandLine(rootCommand, ['run', '-h', 'myhost', 'img']).cmd.flags.hostname, 'myhost', '-h is --hostname in run, as in docker');
  t.throws(() => parseCommandLine(rootCommand, ['frobnicate']), { code: 'ERR_CLI_UNKNOWN_COMMAND' });
  t.throws(() => parseCommandLine(rootCommand, ['volume', 'frobnicate']), { code: 'ERR_CLI_UNKNOWN_COMMAND' });
  t.throws(() => parseCommandLine(rootCommand, ['rename', 'a']), { code: 'ERR_CLI_ARGUMENTS' });
  t.throws(() => parseCommandLine(rootCommand, ['run']), { code: 'ERR_CLI_ARGUMENTS' });
  t.throws(() => parseCommandLine(rootCommand, ['ps', 'extra']), { code: 'ERR_CLI_ARGUMENTS' });
  t.true(parseCommandLine(rootCommand, ['ps', '--help']).cmd.flags.help as boolean);
  for (const group of [['container', '--help'], ['system', '-h'], ['volume']]) {
    const { spec, cmd } = parseCommandLine(rootCommand, group);
    t.deepEqual([spec.name, cmd.flags.help], [group[0], true], `${group.join(' ')} prints the group's help`);
  }
  t.throws(() => parseCommandLine(rootCommand, ['container', '--frob']), { code: 'ERR_CLI_UNKNOWN_FLAG' });
  t.throws(() => parseCommandLine(rootCommand, ['container', '--help', 'frob']), { code: 'ERR_CLI_UNKNOWN_COMMAND' });
});

test('help texts list commands and options', (t) => {
  const top = helpText(rootCommand, rootCommand, []);
  t.regex(top, /^Usage: {2}berth \[OPTIONS\] COMMAND/);
  t.regex(top, /\n {2}volume +Manage volumes\n/);
  const vol = rootCommand.sub!.find((c) => c.name === 'volume')!;
  const ls = vol.sub!.find((c) => c.name === 'ls')!;
  const h = helpText(rootCommand, ls, ['volume', 'ls']);
  t.regex(h, /Usage: {2}berth volume ls \[OPTIONS\]/);
  t.regex(h, /-q, --quiet +Only display IDs/);
  t.regex(h, /Aliases:\n {2}ls, list/);
});
