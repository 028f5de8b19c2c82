"""Findings of the security scanners that are by design, suppressed on their resource with the
reason, in the template itself, so a team's own checkov or cfn-lint run reads why.

checkov reads ``Metadata.checkov.skip`` (``id`` and ``comment``); cfn-lint reads
``Metadata.cfn-lint.config.ignore_checks`` and has no place for a reason, so the reasons
stand beside it in ``Metadata.cfn-lint.reasons`` (cfn-lint ignores that key).
``tests/infra/test_security_scan.py`` runs both scanners and fails on any finding that is
neither fixed nor suppressed this way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import CfnResource
from constructs import IConstruct


def suppress_findings(
    construct: IConstruct,
    *,
    checkov: Mapping[str, str] | None = None,
    cfn_lint: Mapping[str, str] | None = None,
) -> None:
    """Suppress scanner checks (id -> reason) on ``construct``'s CloudFormation resource."""
    resource = construct if isinstance(construct, CfnResource) else construct.node.default_child
    if not isinstance(resource, CfnResource):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource to annotate")
    if checkov:
        existing: dict[str, Any] = dict(resource.get_metadata("checkov") or {})
        skips = [*existing.get("skip", [])]
        skips += [{"id": check, "comment": reason} for check, reason in checkov.items()]
        resource.add_metadata("checkov", {**existing, "skip": skips})
    if cfn_lint:
        existing = dict(resource.get_metadata("cfn-lint") or {})
        config = dict(existing.get("config", {}))
        config["ignore_checks"] = [*config.get("ignore_checks", []), *cfn_lint]
        reasons = {**existing.get("reasons", {}), **cfn_lint}
        resource.add_metadata("cfn-lint", {**existing, "config": config, "reasons": reasons})
