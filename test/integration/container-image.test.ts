// The container image cannot be built here (no registry). What can be checked: the Dockerfile's shape
// (Node 24 stages, a non-root numeric user, only compiled output and production dependencies in the
// final stage), and that the compiled output alone runs: the image's layout with dist/ and no src/.
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it, onTestFinished } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));

describe('container image', () => {
  it('Dockerfile: Node 24 stages, non-root user, final stage without sources or dev dependencies', async () => {
    const text = await readFile(join(root, 'Dockerfile'), 'utf8');
    const lines = text.split('\n').filter((l) => l.trim() && !l.startsWith('#'));
    const froms = lines.filter((l) => l.startsWith('FROM '));
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const f of froms) expect(f).toMatch(/^FROM node:24[-.\w]*( AS \w+)?$/);
    const final = lines.slice(lines.lastIndexOf(froms.at(-1)!));
    expect(final.filter((l) => l.startsWith('COPY')).join('\n')).not.toMatch(/\bsrc\b(?!\/dist)|tsconfig/);
    expect(final.some((l) => /^COPY --from=build \S+\/dist /.test(l))).toBe(true);
    expect(final.find((l) => l.startsWith('USER '))).toMatch(/^USER [1-9]\d*(:[1-9]\d*)?$/);
    const deps = lines.slice(lines.indexOf(froms.find((f) => f.endsWith(' AS deps'))!));
    expect(deps.find((l) => l.startsWith('RUN npm ci'))).toContain('--omit=dev');
  });

  it(
    'the compiled output alone runs the CLI (the image layout: dist/, bin/, no src/)',
    { timeout: 120_000 },
    async () => {
      const dir = await mkdtemp(join(tmpdir(), 'image-'));
      onTestFinished(() => rm(dir, { recursive: true, force: true }));
      await run(process.execPath, [
        join(root, 'node_modules/typescript/bin/tsc'),
        '-p',
        join(root, 'tsconfig.build.json'),
        '--outDir',
        join(dir, 'dist'),
      ]);
      // The image installs `dependencies` only (npm ci --omit=dev): every package the compiled code imports
      // must be one of them.
      const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as {
        dependencies: Record<string, string>;
      };
      const imported = new Set<string>();
      for (const f of (await readdir(join(dir, 'dist'), { recursive: true })).filter((f) =>
        f.endsWith('.js'),
      )) {
        const text = await readFile(join(dir, 'dist', f), 'utf8');
        const specs = [
          ...text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+'([^']+)'/gm),
          ...text.matchAll(/^\s*import\s+'([^']+)'/gm),
          ...text.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g),
        ].map((m) => m[1]!);
        for (const spec of specs) {
          if (spec.startsWith('.') || spec.startsWith('node:')) continue;
          imported.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
        }
      }
      expect(imported.size).toBeGreaterThan(3);
      expect([...imported].filter((p) => !(p in pkg.dependencies))).toEqual([]);
      await mkdir(join(dir, 'bin'));
      await cp(join(root, 'bin/capi-autopilot.js'), join(dir, 'bin/capi-autopilot.js'));
      await cp(join(root, 'package.json'), join(dir, 'package.json'));
      await symlink(join(root, 'node_modules'), join(dir, 'node_modules'));
      const cli = (args: string[]) =>
        run(process.execPath, [join(dir, 'bin/capi-autopilot.js'), ...args], {
          env: { ...process.env, KUBERNETES_SERVICE_HOST: '', KUBERNETES_SERVICE_PORT: '' },
        }).then(
          (r) => ({ code: 0, out: r.stdout + r.stderr }),
          (e: { code: number; stdout: string; stderr: string }) => ({
            code: e.code,
            out: e.stdout + e.stderr,
          }),
        );
      const help = await cli(['--help']);
      expect(help.out).toContain('usage: capi-autopilot');
      // `run` as in the Deployment, outside a pod: every module of the service loads, then the clear refusal.
      const r = await cli(['run', '--config', join(root, 'deploy/base/config.yaml')]);
      expect(r.out).toContain('management.inCluster: not running in a pod');
      expect(r.code).toBe(1);
    },
  );
});
