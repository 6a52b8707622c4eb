"""The ``bedrock-chaos`` command line: ``serve``, ``demo`` and ``schema``."""

from __future__ import annotations

import argparse
import json
import sys

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
    print(f"bedrock-chaos: Bedrock Runtime emulator on http://{args.host}:{args.port} (seed {emulator.config.seed})")
    uvicorn.run(create_app(emulator), host=args.host, port=args.port, log_level=args.log_level)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from emulator import demo

    return demo.run(_config(args))


def _schema(_: argparse.Namespace) -> int:
    json.dump(EmulatorConfig.model_json_schema(), sys.stdout, indent=2)
    print()
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
    serve.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    serve.set_defaults(run=_serve)

    demo = commands.add_parser("demo", help="cold starts, non-determinism, throttling and cost in under a minute")
    common(demo)
    demo.set_defaults(run=_demo)

    schema = commands.add_parser("schema", help="print the JSON schema of the config file")
    schema.set_defaults(run=_schema)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (OSError, ValueError) as error:  # a bad config file or an unusable port
        print(f"bedrock-chaos: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
