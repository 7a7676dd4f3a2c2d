// cluster-autoscaler's node group size annotations, read one way for every reader (node-group discovery,
// the delete protocol's min-size check): plain decimal digits up to int32. Upstream's strconv.Atoi also
// takes "+3" and " 2"; we refuse them rather than plan removals one reader would reject.

const MAX_INT32 = 2 ** 31 - 1;

export type SizeParse = { ok: true; value: number } | { ok: false; error: string };

/** `label` names the value in the error, e.g. "min-size". */
export function parseNodeGroupSize(label: string, raw: string): SizeParse {
  const bad = (why: string): SizeParse => ({ ok: false, error: `${label} ${JSON.stringify(raw)} ${why}` });
  if (/^-\d+$/.test(raw)) return bad('is negative');
  if (!/^\d+$/.test(raw)) return bad('is not an integer');
  const n = Number(raw);
  return n > MAX_INT32 ? bad(`is above ${MAX_INT32}`) : { ok: true, value: n };
}
