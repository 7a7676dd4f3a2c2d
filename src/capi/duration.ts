// Go duration strings as v1beta1 stores them (metav1.Duration → time.ParseDuration / Duration.String).
// The grammar is Go's: [-+]?([0-9]*(\.[0-9]*)?unit)+ with units ns, us, µs, μs, ms, s, m, h, or the bare
// "0". Anything else (spaces, "1d", "1H", "10", "") is rejected. Arithmetic is exact (bigint nanoseconds),
// so "3000ms" is exactly 3 s and truncation to whole seconds matches CAPI's ConvertToSeconds.

export type DurationResult = { ok: true; nanoseconds: bigint } | { ok: false; error: string };

const NS_PER_SECOND = 1_000_000_000n;
const MAX_NANOS = (1n << 63n) - 1n; // Go time.Duration is an int64
const MAX_INT32 = 2 ** 31 - 1;

const UNIT_NANOS: Readonly<Record<string, bigint>> = {
  ns: 1n,
  us: 1_000n,
  '\u00b5s': 1_000n, // MICRO SIGN
  '\u03bcs': 1_000n, // GREEK SMALL LETTER MU
  ms: 1_000_000n,
  s: NS_PER_SECOND,
  m: 60n * NS_PER_SECOND,
  h: 3600n * NS_PER_SECOND,
};

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';

/** Parses a Go duration string exactly as time.ParseDuration does (including its overflow limit). */
export function parseGoDuration(text: string): DurationResult {
  const bad = (why: string): DurationResult => ({
    ok: false,
    error: `invalid duration ${JSON.stringify(text)}: ${why}`,
  });
  let s = text;
  let negative = false;
  if (s.startsWith('-') || s.startsWith('+')) {
    negative = s.startsWith('-');
    s = s.slice(1);
  }
  if (s === '0') return { ok: true, nanoseconds: 0n };
  if (s === '') return bad('empty');
  let total = 0n;
  while (s !== '') {
    if (!(s[0] === '.' || isDigit(s[0]))) return bad(`expected a number at ${JSON.stringify(s)}`);
    let i = 0;
    while (isDigit(s[i])) i++;
    const whole = s.slice(0, i);
    let fraction = '';
    if (s[i] === '.') {
      let j = i + 1;
      while (isDigit(s[j])) j++;
      fraction = s.slice(i + 1, j);
      i = j;
    }
    if (whole === '' && fraction === '') return bad('a number needs at least one digit');
    let u = i;
    while (u < s.length && s[u] !== '.' && !isDigit(s[u])) u++;
    const unitName = s.slice(i, u);
    if (unitName === '') return bad(`missing unit after ${JSON.stringify(s.slice(0, i))}`);
    const unit = UNIT_NANOS[unitName];
    if (unit === undefined)
      return bad(`unknown unit ${JSON.stringify(unitName)} (use ns, us, ms, s, m or h)`);
    // Go truncates the fractional part to whole nanoseconds.
    const scale = 10n ** BigInt(fraction.length);
    total += BigInt(whole || '0') * unit + (BigInt(fraction || '0') * unit) / scale;
    if (total > MAX_NANOS + (negative ? 1n : 0n)) return bad('overflows a Go time.Duration');
    s = s.slice(u);
  }
  return { ok: true, nanoseconds: negative ? -total : total };
}

/**
 * Whole seconds of a non-negative duration, truncated and capped at int32 as CAPI's ConvertToSeconds does
 * when it converts v1beta1 durations to v1beta2 *Seconds fields.
 */
export function nanosecondsToSeconds(nanoseconds: bigint): number {
  const seconds = nanoseconds / NS_PER_SECOND;
  return seconds > BigInt(MAX_INT32) ? MAX_INT32 : Number(seconds);
}

/** Formats whole seconds the way Go's Duration.String does ("0s", "45s", "10m30s", "1h0m0s"). */
export function formatGoDurationSeconds(seconds: number): string {
  if (!Number.isSafeInteger(seconds) || seconds < 0) {
    throw new RangeError(`duration seconds must be a non-negative integer, got ${seconds}`);
  }
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}
