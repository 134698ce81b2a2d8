/** Docker's human-readable durations (go-units HumanDuration) and container status strings. */
import type { ContainerRecord } from '../container.js';

/** `Less than a second`, `5 seconds`, `About a minute`, `3 hours`, `2 weeks`… as go-units prints them. */
export function humanDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 1) return 'Less than a second';
  if (s === 1) return '1 second';
  if (s < 60) return `${s} seconds`;
  const m = Math.round(ms / 60000);
  if (m === 1) return 'About a minute';
  if (m < 60) return `${m} minutes`;
  const h = Math.round(ms / 3600000);
  if (h === 1) return 'About an hour';
  if (h < 48) return `${h} hours`;
  if (h < 24 * 7 * 2) return `${Math.floor(h / 24)} days`;
  if (h < 24 * 30 * 2) return `${Math.floor(h / 24 / 7)} weeks`;
  if (h < 24 * 365 * 2) return `${Math.floor(h / 24 / 30)} months`;
  return `${Math.floor(h / 24 / 365)} years`;
}

/** The `STATUS` column of `docker ps`. */
export function containerStatusText(r: ContainerRecord, now = Date.now()): string {
  const st = r.State;
  const since = (t: string) => humanDuration(Math.max(0, now - Date.parse(t)));
  if (st.Paused) return `Up ${since(st.StartedAt)} (Paused)`;
  if (st.Restarting) return `Restarting (${st.ExitCode}) ${since(st.FinishedAt)} ago`;
  if (st.Running) return `Up ${since(st.StartedAt)}`;
  if (st.Status === 'removing') return 'Removal In Progress';
  if (st.Dead) return 'Dead';
  if (st.Status === 'created' || st.StartedAt.startsWith('0001-')) return 'Created';
  return `Exited (${st.ExitCode}) ${since(st.FinishedAt)} ago`;
}
