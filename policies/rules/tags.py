"""Required tags: every taggable resource says who owns it, where its data may live and what manages it."""

from __future__ import annotations

from opcloud.policies import iaas
from opcloud.policies import resources as res
from opcloud.policies.model import A_5_9, ResourceView, Severity, StackView, Verdict, resource_rule

REQUIRED_TAGS = ("owner", "platform", "environment", "jurisdiction", "managed-by")
# Types that must carry tags even when a component forgot the `tags` input altogether (data stores, too).
ALWAYS_TAGGED = (*res.KMS_KEY, *res.AZ_KEY, *res.CLOUDTRAIL, *res.LB, *res.AZ_APP_GATEWAY)


@resource_rule(
    name="required-tags",
    description="Taggable resources carry owner, platform, environment, jurisdiction and managed-by tags that "
    "agree with the stack.",
    control=A_5_9,
    severity=Severity.LOW,
    remediation="Pass the environment's standard_tags() to the resource.",
)
def required_tags(resource: ResourceView, stack: StackView) -> list[Verdict] | None:
    if iaas.kind(resource) == "packages":
        # A VM-only cloud keeps no tags: each host is inventoried in the environment under the stack's tags.
        missing = [key for key in REQUIRED_TAGS if not stack.context.tags.get(key)]
        if missing:
            return [(False, f"host {resource.get('host')}: the environment's tags lack {', '.join(missing)}")]
        return [
            (
                True,
                f"host {resource.get('host')} inventoried under the stack's tags (owner {stack.context.tags['owner']})",
            )
        ]
    if "tags" not in resource.props and resource.type not in (*ALWAYS_TAGGED, *res.data_stores()):
        return None
    if resource.props.get("tags") == res.UNKNOWN:
        return None  # computed tags are checked after the update, not during preview
    tags = resource.tags
    missing = [key for key in REQUIRED_TAGS if not tags.get(key)]
    if missing:
        return [(False, f"missing tags: {', '.join(missing)}")]
    ctx = stack.context
    for key, expected in (("jurisdiction", ctx.jurisdiction), ("environment", ctx.environment)):
        if expected is not None and tags.get(key) != expected:
            return [(False, f"tag {key}={tags.get(key)} disagrees with the stack ({expected})")]
    return [(True, "required tags present")]


RULES = (required_tags,)
