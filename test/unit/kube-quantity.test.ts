import { describe, expect, it } from 'vitest';
import { formatMilli, parseAmount, parseQuantity, QuantityError } from '../../src/kube/quantity.ts';

describe('Kubernetes quantities as milli-units', () => {
  it.each<[string, number]>([
    ['500m', 500],
    ['2', 2000],
    ['0.1', 100],
    ['1.', 1000],
    ['.5', 500],
    ['1m', 1],
    ['0.0001', 1], // rounded up to a whole milli-unit, as MilliValue does
    ['1k', 1_000_000],
    ['1e3', 1_000_000],
    ['1E-3', 1],
    ['1Ki', 1_024_000],
    ['100Mi', 104_857_600_000],
    ['1.5Gi', 1_610_612_736_000],
    ['8Gi', 8_589_934_592_000],
    ['110', 110_000],
    ['-1', -1000],
    ['+2', 2000],
  ])('%s → %i', (raw, milli) => expect(parseQuantity(raw)).toBe(milli));

  it.each(['', ' 1', '1 ', '500mb', '1.5.5', 'Gi', '1gi', 'one', '1Ki2', '2E'])('rejects "%s"', (raw) => {
    expect(() => parseQuantity(raw)).toThrow(QuantityError);
  });

  it('amounts must not be negative', () => {
    expect(() => parseAmount('-1')).toThrow(/must not be negative/);
    expect(parseAmount('0')).toBe(0);
  });

  it('formats back for messages', () => {
    expect(formatMilli('cpu', 1500)).toBe('1500m');
    expect(formatMilli('cpu', 2000)).toBe('2');
    expect(formatMilli('memory', parseQuantity('2Gi'))).toBe('2Gi');
    expect(formatMilli('pods', 110_000)).toBe('110');
  });
});
