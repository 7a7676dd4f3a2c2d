import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Modules that do I/O or read clocks/env; the pure core (planners, filters, evaluators, adapters)
// must not import them so it stays deterministic and testable without a server.
const impure = [
  '@kubernetes/client-node',
  'prom-client',
  '@opentelemetry/*',
  'node:fs',
  'node:child_process',
];

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'reports/', 'bench/results/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-syntax': [
        'error',
        {
          selector: "MemberExpression[object.name='process'][property.name='env']",
          message: 'read process.env only in src/config/ (and the sandbox/test harness)',
        },
      ],
    },
  },
  {
    files: ['src/sandbox/**', 'src/config/**', 'scripts/**', 'test/**', 'bench/**', 'bin/**', '*.config.*'],
    rules: { 'no-restricted-syntax': 'off' },
  },
  {
    files: [
      'src/capi/**',
      // The decision cores: pure functions over a snapshot (ARCHITECTURE.md).
      'src/autoscaler/{scaleup,scaledown,scaledown-sim,scaledown-inputs,utilization,estimator,packing}.ts',
      'src/autoscaler/{predicates,expander,goregexp,nodegroups,template,objects,inputs}.ts',
      'src/autoscaler/{decision,explain,scaledown-explain}.ts',
      'src/machines/{protocol,records,eligibility}.ts',
      'src/drain/filters.ts',
      'src/drain/volumes.ts',
      'src/tracing/traceparent.ts',
      'src/tracing/carry.ts',
      'src/tracing/settings.ts',
      'src/kube/apipath.ts',
      'src/remediation/{health,short-circuit,types,escalation,storm,mhc-plan}.ts',
    ],
    rules: { 'no-restricted-imports': ['error', { patterns: impure }] },
  },
);
