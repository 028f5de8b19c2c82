"""The deployed stack as a source of settings: its outputs name the table and the bucket."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from botocore.exceptions import ClientError

from archiver.errors import StackNotFoundError

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient


#: What CloudFormation answers a caller not allowed to describe the stack.
_DENIED: Final = frozenset({"AccessDenied", "AccessDeniedException"})


def stack_outputs(cloudformation: CloudFormationClient, stack_name: str) -> dict[str, str]:
    """The stack's outputs by key; StackNotFoundError if no such stack is deployed."""
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") == "ValidationError" and "does not exist" in error.get("Message", ""):
            raise StackNotFoundError(f"no stack named {stack_name!r} is deployed") from None
        if error.get("Code") in _DENIED:
            raise StackNotFoundError(
                f"stack {stack_name!r} cannot be read ({error.get('Code')}: "
                "cloudformation:DescribeStacks is not allowed)"
            ) from None
        raise
    if not stacks:
        raise StackNotFoundError(f"no stack named {stack_name!r} is deployed")
    return {
        str(o["OutputKey"]): str(o["OutputValue"])
        for o in stacks[0].get("Outputs", [])
        if "OutputKey" in o and "OutputValue" in o
    }
