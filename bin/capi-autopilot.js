#!/usr/bin/env node
// Runs the TypeScript sources directly (Node 24 strips types) in a checkout, and the compiled
// dist/ when installed as a package (Node refuses to strip types under node_modules).
import { existsSync } from 'node:fs';

const src = new URL('../src/cli.ts', import.meta.url);
const dist = new URL('../dist/cli.js', import.meta.url);
const useSrc = existsSync(src) && !src.pathname.includes('/node_modules/');
const { main } = await import(useSrc ? src.href : dist.href);
// Holds the process open while main runs: the client's retry backoff waits on unref'd timers, and a
// start that waits only on them (an unreachable apiserver) would otherwise end silently with exit 13.
const alive = globalThis.setInterval(() => {}, 1 << 30);
try {
  process.exitCode = await main(process.argv.slice(2));
} finally {
  globalThis.clearInterval(alive);
}
