"""Write `.dvc/plots/offline.html`: DVC's plots page with vega, vega-lite and vega-embed inlined.

DVC's own page loads the three libraries from a CDN, so with no network (a cluster
node, a train) the charts of `dvc plots show` and `dvc plots diff` are silently absent.
`.dvc/config` names this page as DVC's HTML template (`plots.html_template`); `make
install` installs the npm packages pinned in `package.json` beside this file into
`node_modules/` (gitignored) and runs this script. The page has no `{scripts}`
placeholder, so DVC adds no CDN scripts; the plots go where `{plot_divs}` is.
"""

from pathlib import Path

HERE = Path(__file__).resolve().parent
LIBRARIES = [  # vega-embed needs the other two as globals, loaded first
    "vega/build/vega.min.js",
    "vega-lite/build/vega-lite.min.js",
    "vega-embed/build/vega-embed.min.js",
]
PAGE = """<!DOCTYPE html>
<html>
<head>
    {refresh_tag}
    <meta charset="utf-8">
    <title>DVC Plot</title>
%s
    <style>
        table {
            border-spacing: 15px;
        }
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
"""


def main() -> None:
    scripts = []
    for library in LIBRARIES:
        source = (HERE / "node_modules" / library).read_text(encoding="utf-8")
        if "</script" in source.lower():
            raise SystemExit(f"{library} holds '</script', which would end its inline script")
        scripts.append(f"    <script>/* {library} */\n{source}\n    </script>")
    (HERE / "offline.html").write_text(PAGE % "\n".join(scripts), encoding="utf-8")


if __name__ == "__main__":
    main()
