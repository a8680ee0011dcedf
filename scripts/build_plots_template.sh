#!/usr/bin/env bash
# Build iterdeploy/pipeline/dvc_plots.html (the .dvc/config plots.html_template): DVC's plot page with Vega, Vega-Lite and Vega-Embed inlined, so
# `dvc plots show` renders with no network (its default page loads them from a CDN). The versions are
# the ones DVC's own page names (dvc_render/vega.py). Needs npm; the built file is committed.
set -euo pipefail
cd "$(dirname "$0")/.."
out=iterdeploy/pipeline/dvc_plots.html
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack -q vega@5.20.2 vega-lite@5.2.0 vega-embed@6.18.2 >/dev/null)
for f in "$work"/*.tgz; do mkdir -p "${f%.tgz}" && tar xzf "$f" -C "${f%.tgz}"; done

{
  printf '<!DOCTYPE html>\n<html>\n<head>\n    {refresh_tag}\n    <title>DVC Plot</title>\n'
  printf '    <!-- Vega 5.20.2, Vega-Lite 5.2.0, Vega-Embed 6.18.2 (BSD-3-Clause, University of Washington\n'
  printf '         Interactive Data Lab), inlined by scripts/build_plots_template.sh for offline use. -->\n'
  for js in vega-5.20.2/package/build/vega.min.js vega-lite-5.2.0/package/build/vega-lite.min.js \
            vega-embed-6.18.2/package/build/vega-embed.min.js; do
    printf '    <script>\n'
    # a literal "</script" inside the library would end the tag early
    sed 's#</script#<\\/script#g' "$work/$js"
    printf '\n    </script>\n'
  done
  printf '    <style>\n        table {\n            border-spacing: 15px;\n        }\n    </style>\n</head>\n'
  printf '<body>\n    {plot_divs}\n</body>\n</html>\n'
} > "$out"
echo "wrote $out ($(wc -c < "$out") bytes)"
