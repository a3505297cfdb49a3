/**
 * Maps TOML key paths to the line they are defined on, so validation errors can name the line.
 * smol-toml reports positions only for syntax errors; this scanner covers what a config file uses:
 * `[table]`, `[[array-of-tables]]`, `key = value`, dotted keys, multi-line arrays and strings.
 * Paths look like `server[0].iburst`, `access.allow`, `rate-limit`.
 */

function stripQuotes(k: string): string {
  const t = k.trim();
  if ((t.startsWith('"') && t.endsWith('"')) || (t.startsWith("'") && t.endsWith("'"))) return t.slice(1, -1);
  return t;
}

function splitDotted(k: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quote: string | null = null;
  for (const ch of k) {
    if (quote !== null) {
      if (ch === quote) quote = null;
      cur += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      cur += ch;
    } else if (ch === '.') {
      out.push(stripQuotes(cur));
      cur = '';
    } else cur += ch;
  }
  out.push(stripQuotes(cur));
  return out;
}

export class KeyLines {
  private readonly map = new Map<string, number>();

  constructor(text: string) {
    const lines = text.split(/\r?\n/);
    const arrayCounts = new Map<string, number>();
    let table = '';
    let inMultiline: '"""' | "'''" | null = null;
    let bracketDepth = 0;
    for (let i = 0; i < lines.length; i++) {
      const lineNo = i + 1;
      const line = lines[i] ?? '';
      if (inMultiline !== null) {
        if (line.includes(inMultiline)) inMultiline = null;
        continue;
      }
      if (bracketDepth > 0) {
        bracketDepth += countBrackets(line);
        continue;
      }
      const trimmed = line.trim();
      if (trimmed === '' || trimmed.startsWith('#')) continue;
      const arr = /^\[\[\s*([^\]]+?)\s*\]\]/.exec(trimmed);
      if (arr?.[1] !== undefined) {
        const name = splitDotted(arr[1]).join('.');
        const idx = arrayCounts.get(name) ?? 0;
        arrayCounts.set(name, idx + 1);
        table = `${name}[${idx}]`;
        this.setOnce(name, lineNo);
        this.map.set(table, lineNo);
        continue;
      }
      const tab = /^\[\s*([^\]]+?)\s*\]/.exec(trimmed);
      if (tab?.[1] !== undefined) {
        table = splitDotted(tab[1]).join('.');
        this.setOnce(table, lineNo);
        continue;
      }
      const kv = /^((?:"[^"]*"|'[^']*'|[A-Za-z0-9_.\- ])+?)\s*=(.*)$/.exec(trimmed);
      if (kv?.[1] !== undefined) {
        const key = splitDotted(kv[1]).join('.');
        const path = table === '' ? key : `${table}.${key}`;
        this.map.set(path, lineNo);
        const rest = kv[2] ?? '';
        const ml = /("""|''')/.exec(rest);
        if (ml?.[1] !== undefined) {
          const after = rest.slice((ml.index ?? 0) + 3);
          if (!after.includes(ml[1])) inMultiline = ml[1] as '"""' | "'''";
        } else {
          bracketDepth = Math.max(0, countBrackets(rest));
        }
      }
    }
  }

  private setOnce(path: string, line: number): void {
    if (!this.map.has(path)) this.map.set(path, line);
  }

  /** The line of `path`, or of its nearest ancestor; null when unknown. */
  lineOf(path: string): number | null {
    let p = path;
    for (;;) {
      const l = this.map.get(p);
      if (l !== undefined) return l;
      const dot = p.lastIndexOf('.');
      const br = p.lastIndexOf('[');
      const cut = Math.max(dot, br);
      if (cut <= 0) return null;
      p = p.slice(0, cut);
    }
  }
}

/** Net `[` minus `]` outside strings and comments, for multi-line arrays. */
function countBrackets(s: string): number {
  let depth = 0;
  let quote: string | null = null;
  for (const ch of s) {
    if (quote !== null) {
      if (ch === quote) quote = null;
      continue;
    }
    if (ch === '"' || ch === "'") quote = ch;
    else if (ch === '#') break;
    else if (ch === '[' || ch === '{') depth++;
    else if (ch === ']' || ch === '}') depth--;
  }
  return depth;
}
