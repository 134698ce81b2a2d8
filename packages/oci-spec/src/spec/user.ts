/**
 * Resolving a user string (`name`, `uid`, `name:group`, `uid:gid`…) against the
 * contents of a container's `/etc/passwd` and `/etc/group`, as Docker does
 * (moby/sys/user `GetExecUser`): a name must exist, a number need not; the
 * primary group comes from passwd unless given; supplementary groups are the
 * groups of /etc/group that list the user.
 */
import { InvalidSpecOptionError } from '../errors.js';

/** The user a process runs as, resolved to numbers. */
export interface ExecUser {
  /** User id. */
  uid: number;
  /** Primary group id. */
  gid: number;
  /** Supplementary group ids from /etc/group. */
  additionalGids: number[];
  /** Home directory from /etc/passwd, `/` when unknown. */
  home: string;
}

/** The files a user string is resolved against: their contents, read by the caller. */
export interface UserDatabase {
  /** Content of the container's `/etc/passwd`. */
  passwd?: string;
  /** Content of the container's `/etc/group`. */
  group?: string;
}

interface PasswdEntry { name: string; uid: number; gid: number; home: string }
interface GroupEntry { name: string; gid: number; members: string[] }

const MAX_ID = 0x7fffffff;
const numeric = /^[0-9]+$/;

function lines(content: string | undefined): string[][] {
  if (content === undefined) return [];
  return content.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#')).map((l) => l.split(':'));
}

function parsePasswd(content: string | undefined): PasswdEntry[] {
  return lines(content).flatMap(([name = '', , uid = '', gid = '', , home = '']) =>
    (numeric.test(uid) && numeric.test(gid) ? [{ name, uid: Number(uid), gid: Number(gid), home }] : []));
}

function parseGroup(content: string | undefined): GroupEntry[] {
  return lines(content).flatMap(([name = '', , gid = '', members = '']) =>
    (numeric.test(gid) ? [{ name, gid: Number(gid), members: members.split(',').filter((m) => m !== '') }] : []));
}

function id(option: string, s: string, what: string): number {
  const n = Number(s);
  if (!numeric.test(s) || n > MAX_ID) throw new InvalidSpecOptionError(option, `${what} ${JSON.stringify(s)} out of range`);
  return n;
}

/**
 * Resolves `user` (`""`, `name`, `uid`, `name:group`, `uid:gid`, `name:gid`, `uid:group`)
 * against `db`. An empty user is root.
 *
 * @throws InvalidSpecOptionError `ERR_OCI_INVALID_SPEC_OPTION` for a name absent from the
 *   database or an id out of range.
 */
export function resolveUser(user: string, db: UserDatabase = {}, option = 'resolveUser'): ExecUser {
  const [userPart = '', groupPart] = user.split(':', 2) as [string, string | undefined];
  if (user.split(':').length > 2) throw new InvalidSpecOptionError(option, `user ${JSON.stringify(user)} has more than one ":"`);
  const passwd = parsePasswd(db.passwd);
  const groups = parseGroup(db.group);

  let entry: PasswdEntry | undefined;
  let uid: number;
  if (userPart === '') {
    uid = 0;
    entry = passwd.find((p) => p.uid === 0);
  } else if (numeric.test(userPart)) {
    uid = id(option, userPart, 'uid');
    entry = passwd.find((p) => p.uid === uid);
  } else {
    entry = passwd.find((p) => p.name === userPart);
    if (entry === undefined) throw new InvalidSpecOptionError(option, `no user ${JSON.stringify(userPart)} in /etc/passwd`);
    uid = entry.uid;
  }

  let gid = entry?.gid ?? 0;
  let additionalGids: number[] = [];
  if (groupPart !== undefined && groupPart !== '') {
    if (numeric.test(groupPart)) {
      gid = id(option, groupPart, 'gid');
    } else {
      const g = groups.find((x) => x.name === groupPart);
      if (g === undefined) throw new InvalidSpecOptionError(option, `no group ${JSON.stringify(groupPart)} in /etc/group`);
      gid = g.gid;
    }
  } else if (entry !== undefined) {
    // Without an explicit group, the user also gets the groups that list it.
    additionalGids = [...new Set(groups.filter((g) => g.members.includes(entry!.name) && g.gid !== gid).map((g) => g.gid))];
  }
  return { uid, gid, additionalGids, home: entry?.home || '/' };
}
