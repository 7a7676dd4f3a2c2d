import { describe, expect, it } from 'vitest';
import { formatGoDurationSeconds, nanosecondsToSeconds, parseGoDuration } from '../../src/capi/duration.ts';

const S = 1_000_000_000n;

describe('parseGoDuration accepts what time.ParseDuration accepts', () => {
  it.each<[string, bigint]>([
    ['0', 0n],
    ['-0', 0n],
    ['0s', 0n],
    ['1h', 3600n * S],
    ['10m30s', 630n * S],
    ['1h0m0s', 3600n * S],
    ['500ms', 500_000_000n],
    ['3000ms', 3n * S],
    ['1.5h', 5400n * S],
    ['.5s', S / 2n],
    ['5.s', 5n * S],
    ['+5s', 5n * S],
    ['-5s', -5n * S],
    ['100ns', 100n],
    ['1us', 1000n],
    ['1\u00b5s', 1000n],
    ['1\u03bcs', 1000n],
    ['1h15m30.918273645s', 4530n * S + 918_273_645n],
    ['1.0000000001s', S], // Go truncates below a nanosecond
    ['2562047h47m16.854775807s', 2n ** 63n - 1n], // the largest Go duration
  ])('%s', (text, ns) => {
    expect(parseGoDuration(text)).toEqual({ ok: true, nanoseconds: ns });
  });
});

describe('parseGoDuration rejects garbage with a clear error', () => {
  it.each<[string, string, string]>([
    ['empty', '', 'empty'],
    ['bare number', '10', 'missing unit'],
    ['days', '1d', 'unknown unit "d"'],
    ['upper-case unit', '1H', 'unknown unit "H"'],
    ['leading space', ' 1s', 'expected a number'],
    ['trailing space', '1s ', 'unknown unit "s "'],
    ['space inside', '1 s', 'unknown unit " s"'],
    ['unit only', 's', 'expected a number'],
    ['dot only', '.s', 'at least one digit'],
    ['sign only', '-', 'empty'],
    ['sign inside', '1h-5m', 'unknown unit "h-"'],
    ['exponent', '1e3s', 'unknown unit "e"'],
    ['words', '10 minutes', 'unknown unit'],
    ['overflow by one nanosecond', '9223372036854775808ns', 'overflows'],
    ['overflow in hours', '2562048h', 'overflows'],
  ])('%s', (_name, text, fragment) => {
    const r = parseGoDuration(text);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error).toContain(JSON.stringify(text));
      expect(r.error).toContain(fragment);
    }
  });
});

describe('nanosecondsToSeconds truncates and caps like CAPI ConvertToSeconds', () => {
  it.each<[bigint, number]>([
    [0n, 0],
    [999_999_999n, 0],
    [S, 1],
    [630n * S + 999n, 630],
    [(2n ** 31n - 1n) * S, 2 ** 31 - 1],
    [2n ** 63n - 1n, 2 ** 31 - 1],
  ])('%s ns → %s s', (ns, s) => {
    expect(nanosecondsToSeconds(ns)).toBe(s);
  });
});

describe('formatGoDurationSeconds writes what Duration.String writes', () => {
  it.each<[number, string]>([
    [0, '0s'],
    [45, '45s'],
    [60, '1m0s'],
    [630, '10m30s'],
    [3600, '1h0m0s'],
    [3661, '1h1m1s'],
    [90000, '25h0m0s'],
  ])('%s', (seconds, text) => {
    expect(formatGoDurationSeconds(seconds)).toBe(text);
    const back = parseGoDuration(text);
    expect(back.ok && nanosecondsToSeconds(back.nanoseconds)).toBe(seconds);
  });

  it.each([-1, 1.5, Number.NaN])('rejects %s', (seconds) => {
    expect(() => formatGoDurationSeconds(seconds)).toThrow(RangeError);
  });
});
