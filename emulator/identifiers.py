"""Model identifiers as callers write them: bare ids, inference-profile ids, and ARNs.

* ``anthropic.claude-3-haiku-20240307-v1:0``: a foundation model;
* ``us.anthropic.claude-3-haiku-20240307-v1:0`` (also ``eu.``, ``apac.``, ``us-gov.``, ``global.``):
  a cross-region inference profile, served by that model;
* ``arn:aws:bedrock:<region>::foundation-model/<id>`` and
  ``arn:aws:bedrock:<region>:<account>:inference-profile/<profile id>``: the same, as ARNs;
* application inference profiles, imported, provisioned and custom-model-deployment ARNs name
  resources of one account: they resolve only through the config's ``aliases``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_ARN = re.compile(
    r"^arn:aws(?:-[a-z-]+)?:bedrock:(?P<region>[a-z0-9-]*):(?P<account>\d{12})?:"
    r"(?P<kind>[a-z-]+)/(?P<resource>.+)$"
)
GEO_PREFIX = re.compile(r"^(?P<geo>us|eu|apac|us-gov|global)\.")
ACCOUNT_RESOURCES = frozenset(
    {"application-inference-profile", "imported-model", "provisioned-model", "custom-model-deployment",
     "custom-model"}
)


@dataclass(frozen=True)
class Identifier:
    """What a model identifier names."""

    model_id: str | None  # the foundation model id to look up; None if it names nothing we know
    via_profile: bool  # reached through an inference profile (cross-region or application)


def parse(identifier: str, aliases: Mapping[str, str] | None = None) -> Identifier:
    """Reduce any accepted identifier to a foundation model id (not yet checked against the catalogue)."""
    aliases = aliases or {}
    if identifier in aliases:
        target = parse(aliases[identifier])
        return Identifier(target.model_id, True)
    m = _ARN.match(identifier)
    if m is None:
        return _bare(identifier)
    kind, resource = m["kind"], m["resource"]
    if kind == "foundation-model":
        return Identifier(resource, False)
    if kind == "inference-profile":
        return _bare(resource)
    # Account resources resolve through aliases, by full ARN (above) or by their short id.
    if kind in ACCOUNT_RESOURCES and resource in aliases:
        return Identifier(parse(aliases[resource]).model_id, True)
    return Identifier(None, False)


def _bare(identifier: str) -> Identifier:
    stripped = GEO_PREFIX.sub("", identifier, count=1)
    return Identifier(stripped, stripped != identifier)
