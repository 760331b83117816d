"""The `imgorigin` command: `serve`, `url` and `config`."""

from __future__ import annotations

import argparse
import os
import sys
from urllib.parse import quote

from origin.settings import SETTINGS_TABLE, Settings, settings_markdown


def _settings_epilog() -> str:
    lines = ["environment variables:"]
    for s in SETTINGS_TABLE:
        default = s.default_doc or s.default or "unset"
        lines.append(f"  {s.env}  ({default})\n      {s.help}")
    return "\n".join(lines)


def build_url(options: str, source: str, *, sign_key: str = "") -> str:
    """Path for `options` over `source`: canonical options, source percent-encoded, signed
    with the first key when one is given."""
    from transforms import parse, serialize

    segment = options
    parsed = parse(options or "_", presets=None) if "p_" not in options else None
    if parsed is not None and parsed.expires is None:
        segment = serialize(parsed.options)
    path = f"/{segment}/{quote(source, safe='/:')}"
    if sign_key:
        from origin.security.signing import sign

        path = "/" + sign(path, sign_key) + path
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="imgorigin", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the production server",
                           epilog=_settings_epilog(),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    serve.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                       help="worker processes (default: the CPU count)")
    url = sub.add_parser("url", help="print the canonical URL path for options and a source")
    url.add_argument("options", help="options segment, e.g. w_400,h_300,fmt_auto")
    url.add_argument("source", help="source key or absolute URL")
    url.add_argument("--sign", action="store_true",
                     help="sign with the first key of IMGORIGIN_SIGNING_KEYS")
    url.add_argument("--base", default="", help="prefix, e.g. https://img.example.com")
    config = sub.add_parser("config", help="print the configuration table (Markdown)")
    config.add_argument("--readme", default="",
                        help="rewrite the table between the settings markers of this file")
    args = parser.parse_args(argv)

    if args.command == "serve":
        Settings.from_env()  # fail fast on a bad setting, before any worker starts
        from origin.server import serve as run_server

        run_server(args.host, args.port, args.workers)
        return 0
    if args.command == "url":
        key = ""
        if args.sign:
            keys = Settings.from_env().signing_keys
            if not keys:
                print("IMGORIGIN_SIGNING_KEYS is not set", file=sys.stderr)
                return 2
            key = keys[0]
        print(args.base.rstrip("/") + build_url(args.options, args.source, sign_key=key))
        return 0
    if args.readme:
        update_readme(args.readme)
        return 0
    print(settings_markdown())
    return 0


BEGIN, END = "<!-- settings:begin -->", "<!-- settings:end -->"


def update_readme(path: str) -> None:
    """Replace the block between the settings markers with the current table."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"{head}{BEGIN}\n{settings_markdown()}\n{END}{tail}")


if __name__ == "__main__":
    sys.exit(main())
