/**
 * A subset of Go's text/template as `docker --format` uses it: field paths
 * (`{{.ID}}`, `{{.State.Status}}`, `{{.}}`), functions `json`, `upper`,
 * `lower`, `title`, `join`, `println`, `index`, pipes (`{{.Names | json}}`),
 * `{{range …}}…{{end}}` and `{{if …}}…{{else}}…{{end}}`, and the `table`
 * prefix that prints a header and aligns columns like docker's tabwriter.
 * `json` alone means `{{json .}}`.
 */
import { TemplateError } from './errors.js';

type Node =
  | { t: 'text'; v: string }
  | { t: 'expr'; v: string }
  | { t: 'range'; expr: string; body: Node[] }
  | { t: 'if'; expr: string; then: Node[]; else: Node[] };

function tokenize(src: string): Array<{ text?: string; action?: string }> {
  const out: Array<{ text?: string; action?: string }> = [];
  let i = 0;
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    if (open < 0) { out.push({ text: src.slice(i) }); break; }
    if (open > i) out.push({ text: src.slice(i, open) });
    const close = src.indexOf('}}', open);
    if (close < 0) throw new TemplateError(src, 'unclosed action');
    let action = src.slice(open + 2, close);
    // {{- and -}} trim surrounding whitespace.
    if (action.startsWith('-')) {
      action = action.slice(1);
      const last = out.at(-1);
      if (last?.text !== undefined) last.text = last.text.trimEnd();
    }
    let next = close + 2;
    if (action.endsWith('-')) {
      action = action.slice(0, -1);
      while (next < src.length && /\s/.test(src[next]!)) next++;
    }
    out.push({ action: action.trim() });
    i = next;
  }
  return out;
}

function parse(src: string): Node[] {
  const toks = tokenize(src);
  let pos = 0;
  const block = (stopAt: string[]): { nodes: Node[]; stop: string } => {
    const nodes: Node[] = [];
    while (pos < toks.length) {
      const tok = toks[pos++]!;
      if (tok.text !== undefined) { nodes.push({ t: 'text', v: tok.text }); continue; }
      const a = tok.action!;
      if (stopAt.includes(a)) return { nodes, stop: a };
      if (a.startsWith('range ')) {
        const body = block(['end']);
        if (body.stop !== 'end') throw new TemplateError(src, 'range without end');
        nodes.push({ t: 'range', expr: a.slice(6).trim(), body: body.nodes });
      } else if (a.startsWith('if ')) {
        const then = block(['else', 'end']);
        let els: Node[] = [];
        if (then.stop === 'else') {
          const e = block(['end']);
          if (e.stop !== 'end') throw new TemplateError(src, 'if without end');
          els = e.nodes;
        } else if (then.stop !== 'end') throw new TemplateError(src, 'if without end');
        nodes.push({ t: 'if', expr: a.slice(3).trim(), then: then.nodes, else: els });
      } else if (a === 'end' || a === 'else') throw new TemplateError(src, `unexpected {{${a}}}`);
      else nodes.push({ t: 'expr', v: a });
    }
    return { nodes, stop: '' };
  };
  return block([]).nodes;
}

/** Go's %v rendering of a value, as text/template prints it. */
export function goString(v: unknown): string {
  if (v === undefined) return '<no value>';
  if (v === null) return '<nil>';
  if (Array.isArray(v)) return `[${v.map(goString).join(' ')}]`;
  if (typeof v === 'object') {
    const keys = Object.keys(v as object).sort();
    return `map[${keys.map((k) => `${k}:${goString((v as Record<string, unknown>)[k])}`).join(' ')}]`;
  }
  return String(v);
}

function splitArgs(src: string, expr: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (const m of expr.matchAll(re)) out.push(m[1] !== undefined ? JSON.stringify(JSON.parse(`"${m[1]}"`)) : m[2]!);
  if (!out.length) throw new TemplateError(src, 'empty action');
  return out;
}

function evalTerm(src: string, term: string, dot: unknown): unknown {
  if (term.startsWith('"')) return JSON.parse(term);
  if (/^-?\d+$/.test(term)) return Number(term);
  if (term === '.') return dot;
  if (term.startsWith('.')) {
    let cur: unknown = dot;
    for (const part of term.slice(1).split('.')) {
      if (cur === null || typeof cur !== 'object') throw new TemplateError(src, `can't evaluate field ${part} in ${typeof cur}`);
      if (!(part in (cur as object))) throw new TemplateError(src, `can't evaluate field ${part}`);
      cur = (cur as Record<string, unknown>)[part];
    }
    return cur;
  }
  throw new TemplateError(src, `function "${term}" not defined`);
}

const funcs: Record<string, (src: string, args: unknown[]) => unknown> = {
  json: (_s, [v]) => JSON.stringify(v ?? null),
  upper: (_s, [v]) => String(v).toUpperCase(),
  lower: (_s, [v]) => String(v).toLowerCase(),
  title: (_s, [v]) => String(v).replace(/\b\w/g, (c) => c.toUpperCase()),
  join: (_s, [v, sep]) => (Array.isArray(v) ? v.map(String).join(String(sep)) : String(v)),
  println: (_s, args) => `${args.map(goString).join(' ')}\n`,
  index: (s, [v, k]) => {
    if (v === null || typeof v !== 'object') throw new TemplateError(s, 'index of non-object');
    return (v as Record<string, unknown>)[String(k)];
  },
};

function evalExpr(src: string, expr: string, dot: unknown): unknown {
  let value: unknown;
  let first = true;
  for (const stage of expr.split('|').map((s) => s.trim())) {
    const parts = splitArgs(src, stage);
    const [head, ...rest] = parts;
    const fn = funcs[head!];
    if (fn) {
      const args = rest.map((a) => evalTerm(src, a, dot));
      value = fn(src, first ? args : [...args, value]);
    } else {
      if (!first || rest.length) throw new TemplateError(src, `function "${head}" not defined`);
      value = evalTerm(src, head!, dot);
    }
    first = false;
  }
  return value;
}

function truthy(v: unknown): boolean {
  if (Array.isArray(v)) return v.length > 0;
  if (v && typeof v === 'object') return Object.keys(v).length > 0;
  return !!v;
}

function exec(src: string, nodes: Node[], dot: unknown): string {
  let out = '';
  for (const n of nodes) {
    if (n.t === 'text') out += n.v;
    else if (n.t === 'expr') {
      const v = evalExpr(src, n.v, dot);
      out += typeof v === 'string' ? v : goString(v);
    } else if (n.t === 'range') {
      const v = evalExpr(src, n.expr, dot);
      const items = Array.isArray(v) ? v : v && typeof v === 'object' ? Object.keys(v).sort().map((k) => (v as Record<string, unknown>)[k]) : [];
      for (const item of items) out += exec(src, n.body, item);
    } else out += exec(src, truthy(evalExpr(src, n.expr, dot)) ? n.then : n.else, dot);
  }
  return out;
}

/** A compiled `--format` value. */
export interface Formatter {
  /** Whether this is a `table` format (header + aligned columns). */
  readonly table: boolean;
  /** Renders rows; each row object's fields are what `{{.Field}}` sees. */
  render(rows: readonly unknown[], headers?: Record<string, string>): string;
}

/** Docker's header for a field: `ID` → `ID`, `CreatedAt` → `CREATED AT`, with overrides. */
function headerFor(field: string, headers: Record<string, string>): string {
  return headers[field] ?? field.replace(/([a-z])([A-Z])/g, '$1 $2').toUpperCase();
}

/** Aligns tab-separated cells like Go's tabwriter(minwidth 10, padding 3) as docker configures it. */
export function alignColumns(lines: readonly string[]): string {
  const cells = lines.map((l) => l.split('\t'));
  const widths: number[] = [];
  for (const row of cells) row.forEach((c, i) => { if (i < row.length - 1) widths[i] = Math.max(widths[i] ?? 0, c.length); });
  return cells.map((row) => row.map((c, i) => (i < row.length - 1 ? c.padEnd(Math.max(10 - 3, widths[i]!) + 3) : c)).join('').trimEnd()).join('\n');
}

/** Compiles a `--format` value (`table …`, `json`, or a template). */
export function compileFormat(format: string): Formatter {
  let src = format;
  let table = false;
  if (src === 'json') src = '{{json .}}';
  else if (src === 'table') table = true;
  else if (src.startsWith('table ')) {
    table = true;
    src = src.slice(6);
  }
  src = src.replace(/\\t/g, '\t').replace(/\\n/g, '\n');
  const nodes = parse(src);
  return {
    table,
    render(rows, headers = {}) {
      const lines = rows.map((r) => exec(src, nodes, r));
      if (!table) return lines.map((l) => `${l}\n`).join('');
      // The header row: each action replaced by its field's header text.
      const head = src.replace(/\{\{[^}]*?\.(\w+)[^}]*\}\}/g, (_m, f: string) => headerFor(f, headers));
      return `${alignColumns([head, ...lines])}\n`;
    },
  };
}
