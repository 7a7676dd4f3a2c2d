import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli.ts';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) }, out, err };
}

describe('cli', () => {
  it('prints usage on help and exits 0', async () => {
    const c = capture();
    expect(await main(['help'], c.io)).toBe(0);
    expect(c.out.join('\n')).toMatch(/sandbox up \[--json\]/);
  });
  it.each([[['frobnicate']], [['sandbox', 'sideways']]])('rejects %j with usage and exit 2', async (argv) => {
    const c = capture();
    expect(await main(argv, c.io)).toBe(2);
    expect(c.err.join('\n')).toMatch(/unknown .*command/);
  });
  it('reports an unknown flag as an error, not a crash', async () => {
    const c = capture();
    expect(await main(['sandbox', 'up', '--bogus'], c.io)).toBe(1);
    expect(c.err.join('\n')).toMatch(/bogus/);
  });
});
