/** A strict Prometheus text-format parser for the tests. */
import assert from 'node:assert/strict';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
export interface Family {
  name: string;
  type: string;
  help: string;
  samples: Sample[];
}

/**
 * A strict parser of the Prometheus text format 0.0.4: every line must be a HELP, a TYPE or a
 * sample; names and label names must match the grammar; label values must be escaped correctly;
 * every sample belongs to the family declared just before it; families are not repeated.
 */
export function parsePrometheus(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
  const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
  let current: Family | null = null;
  assert.ok(text.endsWith('\n'), 'ends with a newline');
  for (const [n, line] of text.slice(0, -1).split('\n').entries()) {
    const where = `line ${n + 1}: ${line}`;
    if (line.startsWith('# HELP ')) {
      const m = /^# HELP (\S+) (.*)$/.exec(line);
      assert.ok(m?.[1] !== undefined && NAME.test(m[1]), where);
      assert.ok(!families.has(m[1]), `family ${m[1]} repeated`);
      current = { name: m[1], type: 'untyped', help: m[2] ?? '', samples: [] };
      families.set(m[1], current);
      continue;
    }
    if (line.startsWith('# TYPE ')) {
      const m = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
      assert.ok(m !== null && current !== null && m[1] === current.name, where);
      current.type = m[2] ?? '';
      continue;
    }
    assert.ok(!line.startsWith('#') && line !== '', where);
    let i = 0;
    while (i < line.length && line[i] !== '{' && line[i] !== ' ') i++;
    const name = line.slice(0, i);
    assert.ok(NAME.test(name), where);
    const labels: Record<string, string> = {};
    if (line[i] === '{') {
      i++;
      while (line[i] !== '}') {
        const eq = line.indexOf('=', i);
        const lname = line.slice(i, eq);
        assert.ok(LABEL.test(lname), `${where} (label name ${lname})`);
        assert.equal(line[eq + 1], '"', where);
        let j = eq + 2;
        let v = '';
        while (line[j] !== '"') {
          assert.ok(j < line.length, `${where} (unterminated label value)`);
          if (line[j] === '\\') {
            const e = line[j + 1];
            assert.ok(e === '\\' || e === '"' || e === 'n', `${where} (bad escape)`);
            v += e === 'n' ? '\n' : e;
            j += 2;
          } else {
            v += line[j];
            j++;
          }
        }
        assert.ok(!(lname in labels), `${where} (label repeated)`);
        labels[lname] = v;
        i = j + 1;
        if (line[i] === ',') i++;
        else assert.equal(line[i], '}', where);
      }
      i++;
    }
    assert.equal(line[i], ' ', where);
    const valueText = line.slice(i + 1);
    assert.match(valueText, /^([+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?|[+-]Inf|NaN)$/, where);
    const value = valueText === '+Inf' ? Infinity : valueText === '-Inf' ? -Infinity : Number(valueText);
    assert.ok(current !== null && current.name === name, `${where} (sample outside its family)`);
    current.samples.push({ name, labels, value });
  }
  return families;
}
