"""Config dataclasses as command lines: every field becomes a --flag with its default."""
from __future__ import annotations

import argparse
import dataclasses
from typing import TypeVar

ConfigT = TypeVar("ConfigT")


def parse_config(config_class: type[ConfigT], argv: list[str], description: str | None) -> ConfigT:
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    for spec in dataclasses.fields(config_class):
        flag = "--" + spec.name.replace("_", "-")
        if isinstance(spec.default, bool):
            parser.add_argument(flag, type=lambda s: s.lower() in ("1", "true", "yes"), default=spec.default)
        else:
            parser.add_argument(flag, type=type(spec.default), default=spec.default)
    return config_class(**vars(parser.parse_args(argv)))
