/**
 * Golden templates for output with live numbers: every line of the template must match the
 * corresponding output line, where runs of spaces match runs of spaces and {placeholders} match
 * the values that change from run to run.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const GOLDEN_DIR = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  '..',
  'test',
  'observe',
  'golden',
);

const PLACEHOLDERS: Record<string, string> = {
  sdur: '[+-]\\d+(?:\\.\\d+)?(?:ns|us|ms|s)',
  dur: '\\d+(?:\\.\\d+)?(?:ns|us|ms|s)',
  sppm: '[+-]\\d+\\.\\d{3}',
  int: '-?\\d+',
  oct: '[0-7]{1,3}',
  num: '-?\\d+(?:\\.\\d+)?',
  age: '(?:\\d+[mhd]?|-)',
  word: '\\S+',
  any: '.*',
  rule: '=+',
  time: '\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\.\\d{3} UTC',
};

function lineRegex(line: string, vars: Record<string, string>): RegExp {
  let re = '';
  for (const part of line.split(/(\{[a-z]+\}| +)/)) {
    if (part === '') continue;
    const m = /^\{([a-z]+)\}$/.exec(part);
    if (m?.[1] !== undefined && vars[m[1]] !== undefined)
      re += (vars[m[1]] ?? '').replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    else if (m?.[1] !== undefined && PLACEHOLDERS[m[1]] !== undefined) re += PLACEHOLDERS[m[1]];
    else if (/^ +$/.test(part)) re += ' +';
    else re += part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

export function assertMatchesTemplate(name: string, output: string, vars: Record<string, string> = {}): void {
  const tpl = readFileSync(join(GOLDEN_DIR, name), 'utf8').replace(/\n$/, '').split('\n');
  const out = output.replace(/\n$/, '').split('\n');
  assert.equal(out.length, tpl.length, `${name}: ${out.length} lines, template has ${tpl.length}\n${output}`);
  for (const [i, t] of tpl.entries()) {
    const line = out[i] ?? '';
    assert.match(line, lineRegex(t, vars), `${name} line ${i + 1}\n${output}`);
  }
}
