/**
 * Docker's exit codes: 125 when docker (here berth) itself fails on
 * `run`/`create`/`start`/`exec`, 126 when the container command cannot be
 * invoked, 127 when it cannot be found, otherwise the container's own
 * status. Other commands exit 1 on errors, and any command exits 125 on a
 * flag or usage error, as the docker CLI does.
 */
import { isBerthError } from '@berth/oci-spec';
import { CliUsageError } from './errors.js';

/** The exit status docker would give for `e` in `command` (`run`, `volume ls`…). */
export function exitCodeForError(e: unknown, command: readonly string[]): number {
  if (e instanceof CliUsageError) return 125;
  if (isBerthError(e)) {
    // The runtime's "executable not found" / "cannot execute" (namespaces' codes).
    // execve's errno decides: ENOENT → 127; EACCES/ENOEXEC/… (found but not executable) → 126.
    if (e.code === 'ERR_NS_EXEC_NOT_FOUND' || e.code === 'ERR_NS_EXEC_FAILED') {
      const d = (e.details ?? {}) as { errnoCode?: string; errno?: number };
      const errno = d.errnoCode ?? d.errno ?? (e as { errno?: number }).errno;
      if (errno === undefined) return e.code === 'ERR_NS_EXEC_NOT_FOUND' ? 127 : 126;
      return errno === 'ENOENT' || errno === 2 ? 127 : 126;
    }
  }
  const runLike = ['run', 'create', 'start', 'exec', 'container run', 'container create', 'container start', 'container exec'];
  return runLike.includes(command.join(' ')) ? 125 : 1;
}
