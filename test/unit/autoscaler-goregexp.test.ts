import { describe, expect, it } from 'vitest';
import { goRegExp } from '../../src/autoscaler/goregexp.ts';
import { parsePriorities } from '../../src/autoscaler/expander.ts';

const ID = 'MachineDeployment/ns1/md-a';

describe('goRegExp: Go regexp forms keep their meaning', () => {
  it.each([
    // [pattern, subject, matches]
    ['md-a', ID, true],
    ['md-a\\z', ID, true],
    ['md-\\z', ID, false],
    ['\\AMachineDeployment/', ID, true],
    ['\\Ans1', ID, false],
    ['^MachineDeployment/[[:alnum:]-]+/md-a$', ID, true],
    ['^MachineDeployment/[[:digit:]]+/', ID, false],
    ['[[:upper:]][[:lower:]]+Deployment', ID, true],
    ['(?i)MD-A$', ID, true],
    ['MD-A$', ID, false],
    ['(?P<name>md-[a-z])$', ID, true],
    ['\\Qns1/md-a\\E$', ID, true],
    ['\\Qmd.a\\E', ID, false],
    ['md.a', ID, true],
    ['[]a]$', ID, true],
    ['[^]x]$', ID, true],
    ['\\\\z', 'a\\z', true],
    ['(?s)a.b', 'a\nb', true],
    ['a.b', 'a\nb', false],
    ['(?m)^md-a\\z', 'x\nmd-a', true],
    ['(?m)^x\\z', 'x\nmd-a', false],
    // \z is end of text inside an (?m:...) group too
    ['(?m:foo\\z)', 'foo\nbar', false],
    ['(?m:foo$)', 'foo\nbar', true],
    ['\\x{41}$', 'xA', true],
    ['\\x41$', 'xA', true],
    ['^\\x{41}', 'x'.repeat(41), false],
    ['\\a', '\x07', true],
    ['a\\sb', 'a b', true],
    ['a\\sb', 'a\u00a0b', false],
    ['a\\Sb', 'a\u00a0b', true],
    ['[\\s]', '\u2003', false],
    ['\\d\\w\\.', '1x.', true],
  ] as const)('%s on %j: %s', (pattern, subject, matches) => {
    expect(goRegExp(pattern).test(subject)).toBe(matches);
  });

  it.each([
    ['(?U)a+', 'flag (?U)'],
    ['a(?i)b', 'only at the start'],
    ['[[:foo:]]', 'unknown character class'],
    ['[[:^alpha:]]', 'negated class'],
    ['\\pL', '\\p is not supported'],
    ['abc\\', 'trailing backslash'],
    ['(a)\\1', '\\1 is not supported'],
    ['a\\Z', '\\Z is not supported'],
    ['a(?=b)', 'lookarounds'],
    ['(?<!a)b', 'lookarounds'],
    ['[\\z]', 'inside a class'],
    ['\\x{1F600}', 'beyond'],
    ['\\xZ', 'two hex digits'],
  ])('refuses %s with a reason', (pattern, reason) => {
    expect(() => goRegExp(pattern)).toThrow(reason);
  });

  it('the priority ConfigMap uses it: a Go-only pattern ranks as cluster-autoscaler would', () => {
    const [p] = parsePriorities('10:\n  - "(?i)^machinedeployment/[[:alnum:]]+/MD-A\\\\z"\n');
    expect(p!.patterns[0]!.test(ID)).toBe(true);
    expect(() => parsePriorities('10:\n  - "a(?i)b"\n')).toThrow(
      /priority 10: "a\(\?i\)b" is not a regular expression: flags/,
    );
  });
});
