/** Rewrites one `## ` section of docs/BENCHMARKS.md (each benchmark owns one), keeping the others. */

/** Replaces the section headed `heading` (a whole `## …` line) by `section`, or appends it. */
export function replaceDocSection(doc: string, heading: string, section: string): string {
  const escaped = heading.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const start = doc.search(new RegExp(`^${escaped}\\s*$`, 'm'));
  if (start < 0) {
    const base = doc.trimEnd();
    return `${base === '' ? '# Benchmarks' : base}\n\n${section}`;
  }
  const rest = doc.slice(start + 1);
  const next = rest.search(/^## /m);
  const end = next < 0 ? doc.length : start + 1 + next;
  const tail = doc.slice(end);
  return `${doc.slice(0, start)}${section}${tail.length > 0 ? `\n${tail}` : ''}`;
}
