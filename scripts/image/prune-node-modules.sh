#!/bin/sh
# Trim a production node_modules (after `npm ci --omit=dev`) to what Node loads on this platform.
# Run from the folder holding node_modules, with the Node that will run the image: deploy/Dockerfile
# runs it in its prod-deps stage, and test/deploy/image.test.ts replays it on the tree it assembles.
set -eu
[ -d node_modules ] || { echo "prune-node-modules: no node_modules in $(pwd)" >&2; exit 1; }

# uWebSockets.js ships native binaries for every platform x arch x Node ABI (binaries/) plus unused
# copies in dist/; keep only the one its loader (src/uws.js) requires here. Without it the server
# would run on the package's slower JavaScript fallback, so a missing binary fails the build.
uws=node_modules/@trufflesuite/uws-js-unofficial
abi=$(node -p 'process.platform + "_" + process.arch + "_" + process.versions.modules')
keep="$uws/binaries/uws_$abi.node"
[ -f "$keep" ] || { echo "prune-node-modules: no uWS binary for $abi ($keep)" >&2; exit 1; }
find "$uws" -type f -name 'uws_*.node' ! -path "$keep" -exec rm -f {} +

# TypeScript declarations and source maps: Node never loads them.
find node_modules -type f \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' \
  -o -name '*.js.map' -o -name '*.mjs.map' -o -name '*.cjs.map' -o -name '*.ts.map' -o -name '*.mts.map' -o -name '*.cts.map' \) -exec rm -f {} +

# Packages' own test suites: a test folder beside a package.json.
find node_modules -type d \( -name test -o -name tests -o -name __tests__ -o -name specs -o -name test-jest \) -prune \
  | while read -r d; do
      if [ -f "$d/../package.json" ]; then rm -rf "$d"; fi
    done
