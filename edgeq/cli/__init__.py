from edgeq.cli.main import build_parser, main  # noqa: F401  (the `edgeq` console script: edgeq.cli:main)
