/**
 * Parsing of `WWW-Authenticate` challenges (RFC 9110 §11.6.1) as registries
 * send them: `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`.
 */

/** One authentication challenge. */
export interface Challenge {
  /** The scheme, lowercased: `bearer`, `basic`. */
  scheme: string;
  /** Auth params, keys lowercased (`realm`, `service`, `scope`, `error`). */
  params: Record<string, string>;
}

/** Parses one or more WWW-Authenticate header values into challenges. */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  if (header === undefined) return [];
  const values = Array.isArray(header) ? header : [header];
  const out: Challenge[] = [];
  for (const v of values) {
    let i = 0;
    let cur: Challenge | null = null;
    const s = v;
    const skipWs = () => { while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++; };
    while (i < s.length) {
      skipWs();
      if (s[i] === ',') { i++; continue; }
      const tokStart = i;
      while (i < s.length && /[!#$%&'*+.^_`|~0-9A-Za-z-]/.test(s[i]!)) i++;
      const token = s.slice(tokStart, i);
      if (!token) { i++; continue; }
      skipWs();
      if (s[i] === '=') {
        // An auth-param of the current challenge.
        i++;
        skipWs();
        let value = '';
        if (s[i] === '"') {
          i++;
          while (i < s.length && s[i] !== '"') {
            if (s[i] === '\\' && i + 1 < s.length) i++;
            value += s[i];
            i++;
          }
          i++;
        } else {
          const vs = i;
          while (i < s.length && s[i] !== ',') i++;
          value = s.slice(vs, i).trim();
        }
        if (cur) cur.params[token.toLowerCase()] = value;
      } else {
        cur = { scheme: token.toLowerCase(), params: {} };
        out.push(cur);
      }
    }
  }
  return out;
}
