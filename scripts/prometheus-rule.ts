// Builds the monitoring overlay's PrometheusRule (deploy/overlays/monitoring/prometheusrule.yaml) from the
// alert rules file deploy/prometheus/capi-autopilot-rules.yaml: its spec.groups are that file's groups.
// kustomize cannot load a file outside the overlay's root, so the overlay holds a generated copy. Prints
// the manifest; with --check, exits 1 when the committed copy is out of date; with --write, replaces it.
// test/unit/prometheus-rule.test.ts fails when the copy is out of date.

import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dump, load } from 'js-yaml';
import { format, resolveConfig } from 'prettier';

export const RULES_PATH = fileURLToPath(
  new URL('../deploy/prometheus/capi-autopilot-rules.yaml', import.meta.url),
);
export const OUTPUT_PATH = fileURLToPath(
  new URL('../deploy/overlays/monitoring/prometheusrule.yaml', import.meta.url),
);

export const HEADER =
  '# generated from deploy/prometheus/capi-autopilot-rules.yaml by npm run deploy:prometheus-rule; do not edit';

/** The PrometheusRule manifest for a rules file's text, formatted the way Prettier formats it. */
export async function renderPrometheusRule(
  rulesText: string = readFileSync(RULES_PATH, 'utf8'),
): Promise<string> {
  const rules = load(rulesText) as { groups?: unknown } | null;
  if (!rules || !Array.isArray(rules.groups) || rules.groups.length === 0)
    throw new Error(`${RULES_PATH}: no rule groups`);
  const manifest = {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: { name: 'capi-autopilot', labels: { 'app.kubernetes.io/name': 'capi-autopilot' } },
    spec: { groups: rules.groups },
  };
  const text = `${HEADER}\n${dump(manifest, { lineWidth: -1, noRefs: true })}`;
  // The repository's Prettier settings apply to YAML too (quotes), so `prettier --check` leaves the file alone.
  const options = (await resolveConfig(OUTPUT_PATH)) ?? {};
  return format(text, { ...options, filepath: OUTPUT_PATH });
}

if (import.meta.main) {
  const manifest = await renderPrometheusRule();
  let current: string | undefined;
  try {
    current = readFileSync(OUTPUT_PATH, 'utf8');
  } catch {
    current = undefined;
  }
  if (process.argv.includes('--write')) {
    if (current !== manifest) writeFileSync(OUTPUT_PATH, manifest);
    process.stdout.write(
      current === manifest ? `${OUTPUT_PATH} is up to date\n` : `${OUTPUT_PATH} updated\n`,
    );
  } else if (process.argv.includes('--check')) {
    if (current !== manifest) {
      process.stderr.write(`${OUTPUT_PATH} is out of date; run: npm run deploy:prometheus-rule\n`);
      process.exitCode = 1;
    } else process.stdout.write(`${OUTPUT_PATH} is up to date\n`);
  } else {
    process.stdout.write(manifest);
  }
}
