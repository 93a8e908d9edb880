#!/usr/bin/env node
// `npm test`: compile (tsc) and run every compiled test file with node's built-in runner.
// Usage: npm test [-- PATTERN...]  (substrings of test file paths, e.g. `npm test -- unit/`)
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
if (tsc.status !== 0) process.exit(tsc.status ?? 1);

function walk(dir, out) {
  if (!fs.existsSync(dir)) return out;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (e.name.endsWith('.test.js')) out.push(p);
  }
  return out;
}
const patterns = process.argv.slice(2);
const files = walk(path.join(root, 'dist', 'test'), [])
  .filter((f) => patterns.length === 0 || patterns.some((p) => f.includes(p)))
  .sort();
if (files.length === 0) { console.error('no test files matched'); process.exit(1); }
// End-to-end tests start real servers and Envoys: run files one at a time so ports and CPU
// are not contended on a 2-core machine.
const res = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...files], { cwd: root, stdio: 'inherit' });
process.exit(res.status ?? 1);
