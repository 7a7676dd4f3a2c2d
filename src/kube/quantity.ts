// Kubernetes resource quantities (k8s.io/apimachinery resource.Quantity syntax) as integer milli-units, the
// unit every resource comparison here uses: "500m" CPU → 500, "1Gi" → 1073741824000, "110" pods → 110000.
// Strict: anything the apiserver would reject is an error naming the input, never a guess. Values beyond
// Number's exact integer range are refused rather than rounded.

const BINARY: Readonly<Record<string, number>> = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};
const DECIMAL: Readonly<Record<string, number>> = {
  n: -9,
  u: -6,
  m: -3,
  '': 0,
  k: 3,
  M: 6,
  G: 9,
  T: 12,
  P: 15,
  E: 18,
};
const SYNTAX = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(?:(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])|[eE]([+-]?\d+))?$/;

export class QuantityError extends Error {
  override name = 'QuantityError';
}

/** Milli-units of a quantity, rounded up to a whole milli-unit as Kubernetes' MilliValue does. */
export function parseQuantity(raw: string): number {
  const m = SYNTAX.exec(raw.trim());
  if (!m || raw.trim() !== raw || raw === '')
    throw new QuantityError(`"${raw}" is not a Kubernetes quantity (e.g. "500m", "2", "1.5Gi", "1e3")`);
  const [, sign, digits, suffix, exponent] = m;
  const [whole = '', frac = ''] = digits!.split('.');
  // Exact arithmetic in BigInt: the mantissa as an integer and a power-of-ten scale.
  let num = BigInt((whole || '0') + frac);
  let scale = -frac.length;
  let factor = 1n;
  if (suffix && suffix in BINARY) factor = BigInt(BINARY[suffix]!);
  else if (suffix !== undefined) scale += DECIMAL[suffix]!;
  else if (exponent !== undefined) scale += Number(exponent);
  num *= factor;
  scale += 3; // milli-units
  let milli: bigint;
  if (scale >= 0) milli = num * 10n ** BigInt(scale);
  else {
    const d = 10n ** BigInt(-scale);
    milli = num / d + (num % d === 0n ? 0n : 1n);
  }
  if (milli > BigInt(Number.MAX_SAFE_INTEGER)) throw new QuantityError(`"${raw}" is too large`);
  const v = Number(milli);
  return sign === '-' ? -v : v;
}

/** A non-negative quantity (capacity, requests). */
export function parseAmount(raw: string): number {
  const v = parseQuantity(raw);
  if (v < 0) throw new QuantityError(`"${raw}" must not be negative`);
  return v;
}

/** Milli-units back to a short human form for messages: cpu "1500m", memory "2Gi", counts "3". */
export function formatMilli(resource: string, milli: number): string {
  if (resource === 'cpu') return milli % 1000 === 0 ? String(milli / 1000) : `${milli}m`;
  const units = milli / 1000;
  if (resource === 'memory' || resource === 'ephemeral-storage') {
    for (const [s, f] of Object.entries(BINARY).reverse())
      if (units >= f && units % f === 0) return `${units / f}${s}`;
  }
  return Number.isInteger(units) ? String(units) : `${milli}m`;
}
