// Kubernetes name checks and cluster-autoscaler's clusterapi node-group auto-discovery specs, for the
// configuration schema. Names are checked with apimachinery's syntax so a typo fails at startup rather
// than as an apiserver 422 (or worse, a selector that silently matches nothing).

import { z } from 'zod';

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

const LABEL_KEY_ALLOWED = 'a label key: [DNS-subdomain prefix/]name, name of at most 63 of a-z A-Z 0-9 - _ .';
const LABEL_VALUE_ALLOWED =
  'a label value: empty or at most 63 of a-z A-Z 0-9 - _ . (alphanumeric at both ends)';

export function isLabelKey(key: string): boolean {
  const slash = key.lastIndexOf('/');
  const name = slash < 0 ? key : key.slice(slash + 1);
  const prefix = slash < 0 ? undefined : key.slice(0, slash);
  if (prefix !== undefined && (prefix.length > 253 || !DNS1123_SUBDOMAIN.test(prefix))) return false;
  return name.length <= 63 && LABEL_NAME.test(name);
}

export function isLabelValue(value: string): boolean {
  return value === '' || (value.length <= 63 && LABEL_NAME.test(value));
}

export const namespaceName = () =>
  z
    .string()
    .max(63, { error: 'a namespace name has at most 63 characters' })
    .regex(DNS1123_LABEL, { error: 'not a valid namespace name (lower-case DNS-1123 label)' })
    .meta({ allowed: 'a namespace name (DNS-1123 label: a-z, 0-9, "-"; at most 63 characters)' });

export const objectName = () =>
  z
    .string()
    .max(253, { error: 'an object name has at most 253 characters' })
    .regex(DNS1123_SUBDOMAIN, { error: 'not a valid object name (lower-case DNS-1123 subdomain)' })
    .meta({ allowed: 'an object name (DNS-1123 subdomain: a-z, 0-9, "-", "."; at most 253 characters)' });

export interface DiscoverySpec {
  namespace?: string;
  clusterName?: string;
  labels?: Record<string, string>;
}

/**
 * Parses cluster-autoscaler's `clusterapi:namespace=N,clusterName=C,key=value,...` (its
 * parseAutoDiscoverySpec): `namespace` and `clusterName` are reserved keys, every other pair is a label
 * that must equal; empty pairs are skipped; an empty value means "any" as it does upstream.
 */
export function parseAutoDiscoverySpec(
  spec: string,
): { ok: true; value: DiscoverySpec } | { ok: false; error: string } {
  const tokens = spec.split(':');
  if (tokens.length !== 2)
    return { ok: false, error: `spec ${JSON.stringify(spec)} should be clusterapi:key=value,key=value` };
  const [discoverer = '', args = ''] = tokens;
  if (discoverer !== 'clusterapi')
    return { ok: false, error: `unsupported discoverer ${JSON.stringify(discoverer)} (only clusterapi)` };
  const value: DiscoverySpec = {};
  const labels: Record<string, string> = {};
  for (const arg of args.split(',')) {
    if (arg === '') continue;
    const kv = arg.split('=');
    if (kv.length !== 2) return { ok: false, error: `invalid key=value pair ${JSON.stringify(arg)}` };
    const [k = '', v = ''] = kv;
    if (k === 'namespace') {
      if (v !== '') value.namespace = v;
    } else if (k === 'clusterName') {
      if (v !== '') value.clusterName = v;
    } else if (Object.hasOwn(labels, k)) {
      return { ok: false, error: `label ${JSON.stringify(k)} given twice` };
    } else {
      labels[k] = v;
    }
  }
  if (Object.keys(labels).length > 0) value.labels = labels;
  return { ok: true, value };
}

const DISCOVERY_SPEC_ALLOWED = 'clusterapi:namespace=N,clusterName=C,key=value,... or an object';

export const DiscoveryEntry = z.preprocess(
  (input, ctx) => {
    if (typeof input !== 'string') return input;
    const parsed = parseAutoDiscoverySpec(input);
    if (parsed.ok) return parsed.value;
    ctx.addIssue({ code: 'custom', message: parsed.error, params: { allowed: DISCOVERY_SPEC_ALLOWED } });
    return z.NEVER;
  },
  z
    .object({
      namespace: namespaceName().optional(),
      clusterName: objectName().optional(),
      labels: z
        .record(
          z
            .string()
            .refine(isLabelKey, { error: 'not a valid label key', params: { allowed: LABEL_KEY_ALLOWED } }),
          z.string().refine(isLabelValue, {
            error: 'not a valid label value',
            params: { allowed: LABEL_VALUE_ALLOWED },
          }),
        )
        .optional(),
    })
    .strict(),
);
