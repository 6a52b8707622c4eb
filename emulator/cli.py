"""The ``bedrock-chaos`` command line: ``serve``, ``demo``, ``models`` and ``schema``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import yaml

from emulator.config import EmulatorConfig


def _config(args: argparse.Namespace) -> EmulatorConfig:
    config = EmulatorConfig.from_yaml(args.config) if args.config else EmulatorConfig()
    if args.seed is not None:
        config = config.replace(seed=args.seed)
    return config


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from emulator.core import Emulator
    from emulator.engine.clock import WallClock
    from emulator.transports.asgi import create_app

    emulator = Emulator(_config(args), clock=WallClock(args.speed))
    ssl: dict[str, str] = {}
    scheme = "http"
    cert = None
    if args.tls:
        from emulator.transports.tls import make_certificate

        cert = make_certificate(args.host)
        ssl = {"ssl_certfile": cert.certfile, "ssl_keyfile": cert.keyfile}
        scheme = "https"
        print(f"bedrock-chaos: TLS with a throwaway certificate; trust it with AWS_CA_BUNDLE={cert.ca_bundle}",
              flush=True)
    where = f"{scheme}://{args.host}:{args.port}" if args.port else f"{scheme}://{args.host} on a free port"
    print(f"bedrock-chaos: Bedrock Runtime emulator on {where} (seed {emulator.config.seed})", flush=True)
    try:
        uvicorn.run(create_app(emulator), host=args.host, port=args.port, log_level=args.log_level, **ssl)
    finally:
        if cert is not None:
            cert.remove()
    return 0


def _demo(args: argparse.Namespace) -> int:
    from emulator import demo

    return demo.run(_config(args))


def file_schema() -> dict[str, Any]:
    """The JSON schema of a config *file*: every key optional, since a file is merged over the
    embedded profile and names only what it changes."""

    def relax(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: relax(v) for k, v in node.items() if k != "required"}
        if isinstance(node, list):
            return [relax(v) for v in node]
        return node

    return relax(EmulatorConfig.model_json_schema())


def _schema(_: argparse.Namespace) -> int:
    json.dump(file_schema(), sys.stdout, indent=2)
    print()
    return 0


def _models(args: argparse.Namespace) -> int:
    from emulator.catalog import Catalog

    def money(value: float | None) -> str:
        return "-" if value is None else f"{value:g}"

    print(f"{'model id':<44s} {'family':<13s} {'size':<6s} {'max out':>7s} {'context':>8s} "
          f"{'$ in/out per 1M':>16s} {'RPM':>5s} {'TPM':>10s}  notes")
    for spec in sorted(Catalog(_config(args)), key=lambda m: m.model_id):
        price = f"{money(spec.list_input_per_million)}/{money(spec.list_output_per_million)}"
        notes = ", ".join(n for n, on in (("profile only", spec.profile_only), ("embedding", spec.embedding),
                                          (f"burndown {spec.output_burndown}x", spec.output_burndown > 1)) if on)
        print(f"{spec.model_id:<44s} {spec.family:<13s} {spec.size_class:<6s} {spec.max_output_tokens:>7,d} "
              f"{spec.context_window:>8,d} {price:>16s} {spec.requests_per_minute or '-':>5} "
              f"{spec.tokens_per_minute or '-':>10}  {notes}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bedrock-chaos", description="A local, faithful AWS Bedrock Runtime emulator with a chaos harness."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--seed", type=int, default=None, help="seed for every random draw (default: the config's)")
        p.add_argument("--config", metavar="FILE", default=None, help="YAML config merged over the default profile")

    serve = commands.add_parser("serve", help="serve the emulator over HTTP (boto3: endpoint_url=...)")
    common(serve)
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind (default: loopback only)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second")
    serve.add_argument("--tls", action="store_true", help="serve HTTPS (needed for bearer-token API keys)")
    serve.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    serve.set_defaults(run=_serve)

    demo = commands.add_parser("demo", help="cold starts, non-determinism, throttling and cost in under a minute")
    common(demo)
    demo.set_defaults(run=_demo)

    schema = commands.add_parser("schema", help="print the JSON schema of the config file")
    schema.set_defaults(run=_schema)

    models = commands.add_parser("models", help="list the model ids the emulator serves")
    common(models)
    models.set_defaults(run=_models)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except BrokenPipeError:  # e.g. `bedrock-chaos schema | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (OSError, ValueError, yaml.YAMLError) as error:  # a bad config file or an unusable port
        config = getattr(args, "config", None)
        where = f"{config}: " if config and str(config) not in str(error) else ""
        print(f"bedrock-chaos: {where}{error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
