#!/usr/bin/env bash
# Checks web/ (`@chatkit-lambda/web`) as the package a consumer installs, from its tarball:
#
# 1. `npm pack -w web` (its `prepack` rebuilds dist/ from scratch) into a temp dir; the tarball
#    holds LICENSE, README.md, dist/ and the sources its maps point to, no tests, and no
#    compiled file without a source (a stale dist/);
# 2. publint --strict on the tarball (package.json fields, exports, files);
# 3. Are the Types Wrong (attw) on the tarball, profile esm-only: the package is ESM only
#    ("type": "module", no CommonJS build), so the node10 and node16-from-CommonJS resolutions
#    are out of scope; the node16-from-ESM and bundler ones must resolve, with types, for every
#    entry point;
# 4. a scratch app in a temp dir installs the tarball and the peers (react, react-dom, next, at
#    the versions of this workspace's lockfile; from npm's cache when it has them) and imports
#    every entry point in `exports` with Node (ESM `import()`), each with its named exports.
#
# Needs the workspace's npm packages (`npm ci`, or `make web-install`).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bin="$root/node_modules/.bin"
for tool in publint attw; do
    [[ -x $bin/$tool ]] || { echo "check-package: $bin/$tool is missing; run 'npm ci' (make web-install)" >&2; exit 1; }
done
tmp="$(mktemp -d "${TMPDIR:-/tmp}/check-package.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
npm_flags=(--no-audit --no-fund --loglevel=error)

# 1. the tarball
npm pack -w web --pack-destination "$tmp" "${npm_flags[@]}" >"$tmp/pack.log" 2>&1 || {
    cat "$tmp/pack.log" >&2
    exit 1
}
tarballs=("$tmp"/chatkit-lambda-web-*.tgz)
tarball="${tarballs[0]}"
[[ -f $tarball ]] || { echo "check-package: npm pack wrote no tarball" >&2; cat "$tmp/pack.log" >&2; exit 1; }
tar -tzf "$tarball" | sed 's|^package/||' | sort >"$tmp/files"
problems=()
for required in package.json LICENSE README.md dist/index.js dist/index.d.ts; do
    grep -qx "$required" "$tmp/files" || problems+=("$required is missing")
done
while read -r file; do
    problems+=("a test file is packed: $file")
done < <(grep -E '\.test\.tsx?$|test-utils' "$tmp/files" || true)
while read -r file; do
    stem="${file#dist/}"
    stem="${stem%.d.ts.map}" stem="${stem%.js.map}" stem="${stem%.d.ts}" stem="${stem%.js}"
    grep -qxE "src/$stem\.tsx?" "$tmp/files" || problems+=("$file has no source in src/ (a stale dist/?)")
done < <(grep '^dist/' "$tmp/files")
if ((${#problems[@]} > 0)); then
    printf 'check-package: %s\n' "${problems[@]}" >&2
    exit 1
fi
echo "check-package: $(basename "$tarball"): $(wc -l <"$tmp/files") files, $(du -k "$tarball" | cut -f1) KiB"

# 2. publint
"$bin/publint" run "$tarball" --strict

# 3. attw
"$bin/attw" "$tarball" --profile esm-only --format table-flipped --no-emoji --no-color

# 4. a scratch app importing every entry point
app="$tmp/app"
mkdir -p "$app"
echo '{ "name": "scratch", "version": "1.0.0", "private": true, "type": "module" }' >"$app/package.json"
peers=()
for peer in react react-dom next; do
    peers+=("$peer@$(node -p "require('$root/node_modules/$peer/package.json').version")")
done
(cd "$app" && npm install --prefer-offline --omit=optional "${npm_flags[@]}" "$tarball" "${peers[@]}") || {
    echo "check-package: installing the tarball and ${peers[*]} into a scratch app failed" >&2
    exit 1
}
cat >"$app/import-all.mjs" <<'JS'
import { readFileSync } from "node:fs";

const name = "@chatkit-lambda/web";
const pkg = JSON.parse(readFileSync(new URL(`./node_modules/${name}/package.json`, import.meta.url)));
let failed = 0;
for (const subpath of Object.keys(pkg.exports)) {
  if (subpath.endsWith(".json")) continue;
  const specifier = name + subpath.slice(1);
  try {
    const names = Object.keys(await import(specifier));
    if (names.length === 0) throw new Error("no exports");
    console.log(`ok   import("${specifier}"): ${names.join(", ")}`);
  } catch (error) {
    failed += 1;
    console.error(`FAIL import("${specifier}"): ${error.message}`);
  }
}
process.exit(failed ? 1 : 0);
JS
(cd "$app" && node import-all.mjs)
echo "check-package: $(basename "$tarball") is clean (publint, attw esm-only, every entry point imports)"
