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
    if (e.code === 'ERR_NS_EXEC_NOT_FOUND') return 127;
    if (e.code === 'ERR_NS_EXEC_FAILED') {
      const errno = (e.details as { errnoCode?: string; errno?: number }).errnoCode ?? (e.details as { errno?: number }).errno;
      return errno === 'ENOENT' || errno === 2 ? 127 : 126;
    }
  }
  const runLike = ['run', 'create', 'start', 'exec', 'container run', 'container create', 'container start', 'container exec'];
  return runLike.includes(command.join(' ')) ? 125 : 1;
}
