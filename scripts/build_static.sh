#!/usr/bin/env bash
# Vendor the console's JavaScript (htmx, lightweight-charts) into src/bourse/web/static (run by hand; the output is
# committed, so neither a server nor a test ever fetches anything at run time).
# htmx comes from the npm registry through npm's own client, pinned to one version.
set -euo pipefail
HTMX_VERSION=2.0.4
CHARTS_VERSION=5.2.1
here="$(cd "$(dirname "$0")/.." && pwd)"
out="$here/src/bourse/web/static"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "htmx.org@$HTMX_VERSION" >/dev/null)
tar -xzf "$tmp"/htmx.org-"$HTMX_VERSION".tgz -C "$tmp"
cp "$tmp/package/dist/htmx.min.js" "$out/htmx.min.js"
cp "$tmp/package/LICENSE" "$out/htmx.LICENSE"
echo "htmx $HTMX_VERSION -> $out/htmx.min.js"
# TradingView's lightweight-charts: the trade page's price chart (static/chart.js draws it)
(cd "$tmp" && npm pack --silent "lightweight-charts@$CHARTS_VERSION" >/dev/null)
mkdir -p "$tmp/charts"
tar -xzf "$tmp"/lightweight-charts-"$CHARTS_VERSION".tgz -C "$tmp/charts"
cp "$tmp/charts/package/dist/lightweight-charts.standalone.production.js" \
  "$out/lightweight-charts.js"
cp "$tmp/charts/package/LICENSE" "$out/lightweight-charts.LICENSE"
echo "lightweight-charts $CHARTS_VERSION -> $out/lightweight-charts.js"
