"""The `imgorigin` command: `serve`, `url`, `from-imgproxy`, `from-thumbor`, `from-ipx`,
`from-cloudinary`, `from-imgix`, `purge`, `warm` and `config`."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterable
from urllib.parse import quote, urlsplit

from origin import opsclient
from origin.errors import ImgOriginError
from origin.settings import (
    SETTINGS_TABLE,
    Settings,
    SettingsError,
    settings_markdown,
    unknown_names,
)


def _settings_epilog() -> str:
    lines = ["environment variables:"]
    for s in SETTINGS_TABLE:
        default = s.default_doc or s.default or "unset"
        lines.append(f"  {s.env}  ({default})\n      {s.help}")
    return "\n".join(lines)


def build_url(options: str, source: str, *, sign_key: str = "",
              expires: int | None = None) -> str:
    """Path for `options` over `source`: canonical options (a preset stays by name, so a
    presets-only server accepts it), source percent-encoded, an `exp_` token when `expires`
    (unix seconds) is given, signed with `sign_key` when one is given."""
    from dataclasses import replace

    from transforms.grammar import parse, serialize

    segment = options or "_"
    names = {token.partition("_")[0] for token in segment.split(",")}
    if expires is not None and "exp" in names:
        raise ValueError("give the expiry once: --expires or exp_, not both")
    if not names & {"p", "preset"}:
        parsed = parse(segment)  # refuses what the server would refuse
        if expires is not None:
            parsed = replace(parsed, expires=expires)
        tokens = [t for t in (serialize(parsed.options), *parsed.extra_tokens()) if t != "_"]
        segment = ",".join(tokens) or "_"
    elif expires is not None:
        segment = f"{segment},exp_{expires}"
    path = f"/{segment}/{quote(source, safe='/:')}"
    if sign_key:
        from origin.security.signing import sign

        path = "/" + sign(path, sign_key) + path
    return path


def native_from(dialect: str, url: str, *, sign_key: str = "") -> str:
    """The native path of an imgproxy, thumbor, ipx, Cloudinary or imgix URL or path (a
    signature is dropped, not checked; an ipx path starts after its mount, a Cloudinary one with
    the cloud name, an imgix one with the image), for rewriting stored URLs; raises the 400 the
    server would answer."""
    from transforms import cloudinary, imgix, imgproxy, ipx, thumbor

    parts = urlsplit(url)
    path = parts.path if parts.scheme and parts.netloc else url
    if dialect == "imgix":
        from origin.dialects import thumbor_watermarks

        if parts.scheme and parts.netloc and parts.query:
            path = f"{path}?{parts.query}"
        translated = imgix.translate(path.removeprefix("/"),
                                     thumbor_watermarks(Settings.from_env()))
    elif dialect == "ipx":
        translated = ipx.translate(path.removeprefix("/"))
    elif dialect == "cloudinary":
        _cloud, slash, rest = path.removeprefix("/").partition("/")
        if not slash:
            raise ValueError("expected a Cloudinary URL: /{cloud}/image/upload/...")
        translated = cloudinary.translate(rest)
    else:
        _signature, slash, rest = path.removeprefix("/").partition("/")
        if not slash:
            raise ValueError(f"expected a {dialect} URL: /{{signature}}/{{options}}/{{source}}")
        if dialect == "imgproxy":
            translated = imgproxy.translate("/" + rest, Settings.from_env().imgproxy_watermark)
        else:
            from origin.dialects import thumbor_watermarks

            translated = thumbor.translate(rest, thumbor_watermarks(Settings.from_env()))
    return build_url(translated.tokens, translated.source, sign_key=sign_key,
                     expires=translated.expires)


def _rewrite_map(dialect: str, lines: Iterable[str], sign_key: str, base: str) -> int:
    """`URL<TAB>native URL` for each URL read (blank lines and `#` comments skipped); a URL the
    server would refuse is reported on stderr with its line number. 1 if any was refused."""
    failed = 0
    for number, line in enumerate(lines, 1):
        url = line.strip()
        if not url or url.startswith("#"):
            continue
        try:
            path = native_from(dialect, url, sign_key=sign_key)
        except (ValueError, ImgOriginError) as exc:
            failed += 1
            reason = exc.detail if isinstance(exc, ImgOriginError) else str(exc)
            print(f"imgorigin from-{dialect}: line {number}: {url}: {reason}", file=sys.stderr)
            continue
        print(f"{url}\t{base.rstrip('/')}{path}")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="imgorigin", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the production server",
                           epilog=_settings_epilog(),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    serve.add_argument("--workers", type=int, default=None,
                       help="worker processes (default: the CPUs this process may use: its "
                            "affinity mask and its cgroup's CPU quota, as in a container)")
    url = sub.add_parser("url", help="print the canonical URL path for options and a source")
    url.add_argument("options", help="options segment, e.g. w_400,h_300,fmt_auto")
    url.add_argument("source", help="source key or absolute URL")
    url.add_argument("--sign", action="store_true",
                     help="sign with the first key of IMGORIGIN_SIGNING_KEYS")
    url.add_argument("--base", default="", help="prefix, e.g. https://img.example.com")
    url.add_argument("--expires", type=int, default=None, metavar="SECONDS",
                     help="signed URL stops working SECONDS from now (adds exp_)")
    for name, example in (("imgproxy", "https://imgproxy.example.com/SIG/rs:fill:300:200/"
                                       "plain/products/shoe.jpg@webp"),
                          ("thumbor", "https://thumbor.example.com/unsafe/300x200/smart/"
                                      "products/shoe.jpg"),
                          ("ipx", "/s_300x200&f_webp/products/shoe.jpg (without the mount)"),
                          ("cloudinary", "https://res.cloudinary.com/demo/image/upload/"
                                         "c_fill,w_300,h_200/f_auto/products/shoe.jpg"),
                          ("imgix", "https://demo.imgix.net/products/shoe.jpg?w=300&h=200&"
                                    "fit=crop&auto=format")):
        legacy = sub.add_parser(f"from-{name}",
                                help=f"print the native URL path of {_article(name)} {name} URL "
                                     "(to rewrite stored URLs)")
        legacy.add_argument("foreign_url", nargs="?", default="-",
                            help=f"e.g. {example}; absent or '-': one URL a line on stdin, "
                                 "answered as `URL<TAB>native URL` lines (a rewrite map)")
        legacy.add_argument("--sign", action="store_true",
                            help="sign with the first key of IMGORIGIN_SIGNING_KEYS")
        legacy.add_argument("--base", default="", help="prefix, e.g. https://img.example.com")
    for name, what in (("purge", "purge sources and directories from every tier and CDN"),
                       ("warm", "compute variants before anyone asks (paths from the command "
                                "line, or one per line on stdin)")):
        command = sub.add_parser(name, help=what)
        command.add_argument("--server", default=opsclient.default_server(),
                             help="the origin, e.g. http://10.0.0.5:8080 (default: this host)")
        command.add_argument("--token", default="",
                             help="bearer token (default: the first of IMGORIGIN_PURGE_TOKENS)")
        if name == "purge":
            command.add_argument("sources", nargs="*", help="source keys or absolute URLs")
            command.add_argument("--prefix", action="append", default=[], metavar="DIR",
                                 help="a directory to purge, e.g. products/ (repeatable)")
            command.add_argument("--watermark", action="append", default=[], metavar="NAME",
                                 help="the CDN copies carrying this watermark, after its file "
                                      "was replaced (repeatable)")
            command.add_argument("--soft", action="store_true",
                                 help="let CDNs that can (Varnish, Fastly) serve the old image "
                                      "while they refetch it")
        else:
            command.add_argument("paths", nargs="*",
                                 help="request paths, e.g. /w_400,fmt_auto/products/shoe.jpg")
    config = sub.add_parser("config", help="print the configuration table (Markdown), or "
                                           "check the settings a server would start with")
    config.add_argument("--readme", default="",
                        help="rewrite the table between the settings markers of this file")
    config.add_argument("--check", nargs="?", const="", default=None, metavar="ENV_FILE",
                        help="check the environment and its IMGORIGIN_ENV_FILE (or this file) "
                             "as `serve` would: exit 0 when they parse, 1 when they name "
                             "settings that do not exist, 2 when they do not parse")
    args = parser.parse_args(argv)

    if args.command == "serve":
        from origin.envfile import EnvFile, EnvFileError

        try:  # fail fast on a bad setting, before any worker starts
            env_file = EnvFile.start()
        except (EnvFileError, SettingsError) as exc:
            print(f"imgorigin: {exc}", file=sys.stderr)
            return 2
        for note in unknown_names():
            print(f"imgorigin: warning: {note}", file=sys.stderr)
        from origin.cpus import usable_cpus
        from origin.server import serve as run_server

        run_server(args.host, args.port, args.workers or usable_cpus(), env_file=env_file)
        return 0
    if args.command in ("url", "from-imgproxy", "from-thumbor", "from-ipx", "from-cloudinary",
                        "from-imgix"):
        key = ""
        if args.sign:
            keys = Settings.from_env().signing_keys
            if not keys:
                print("IMGORIGIN_SIGNING_KEYS is not set", file=sys.stderr)
                return 2
            key = keys[0]
        if args.command != "url" and args.foreign_url == "-":
            return _rewrite_map(args.command.removeprefix("from-"), sys.stdin, key, args.base)
        try:
            if args.command == "url":
                expires = int(time.time()) + args.expires if args.expires is not None else None
                path = build_url(args.options, args.source, sign_key=key, expires=expires)
            else:
                path = native_from(args.command.removeprefix("from-"), args.foreign_url,
                                   sign_key=key)
        except ValueError as exc:  # InvalidOptions is not a ValueError: both are usage errors
            print(f"imgorigin {args.command}: {exc}", file=sys.stderr)
            return 2
        except ImgOriginError as exc:
            print(f"imgorigin {args.command}: {exc.detail}", file=sys.stderr)
            return 2
        print(args.base.rstrip("/") + path)
        return 0
    if args.command in ("purge", "warm"):
        token = args.token or opsclient.token_from_env()
        if not token:
            print(f"imgorigin {args.command}: no token (--token, or IMGORIGIN_PURGE_TOKENS)",
                  file=sys.stderr)
            return 2
        try:
            if args.command == "purge":
                if not args.sources and not args.prefix and not args.watermark:
                    print("imgorigin purge: name sources, --prefix directories or --watermark "
                          "names", file=sys.stderr)
                    return 2
                done = opsclient.purge(args.server, token, args.sources, args.prefix, args.soft,
                                       watermarks=args.watermark)
            else:
                done = opsclient.warm(args.server, token, args.paths or sys.stdin)
        except opsclient.CallFailed as exc:
            print(f"imgorigin {args.command}: {exc}", file=sys.stderr)
            return 2
        return 0 if done else 1
    if args.check is not None:
        return check_settings(args.check)
    if args.readme:
        update_readme(args.readme)
        return 0
    print(settings_markdown())
    return 0


def check_settings(path: str) -> int:
    """`imgorigin config --check`: the settings `serve` would start with, from the environment
    and its env file (or `path`), checked without starting anything; values are never shown."""
    from origin.envfile import ENV_FILE_VARIABLE, EnvFile, EnvFileError

    environ = dict(os.environ)
    if path:
        environ[ENV_FILE_VARIABLE] = path
    try:
        env_file = EnvFile.start(environ)
    except (EnvFileError, SettingsError) as exc:
        print(f"imgorigin config: {exc}", file=sys.stderr)
        return 2
    notes = unknown_names(environ)
    for note in notes:
        print(f"imgorigin config: {note}", file=sys.stderr)
    known = {s.env for s in SETTINGS_TABLE}
    names = sorted(n for n in environ if n in known)
    source = f" (with {env_file.path})" if env_file is not None else ""
    print(f"settings parse{source}: {', '.join(names) or 'all defaults'}")
    return 1 if notes else 0


BEGIN, END = "<!-- settings:begin -->", "<!-- settings:end -->"


def update_readme(path: str) -> None:
    """Replace the block between the settings markers with the current table."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"{head}{BEGIN}\n{settings_markdown()}\n{END}{tail}")


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


if __name__ == "__main__":
    sys.exit(main())
