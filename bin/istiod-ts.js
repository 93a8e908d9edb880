#!/usr/bin/env node
'use strict';
// Thin launcher: the CLI is compiled TypeScript in dist/ (built by `npm ci`/`npm install` via `prepare`).
require('../dist/src/main/cli.js').main(process.argv.slice(2));
