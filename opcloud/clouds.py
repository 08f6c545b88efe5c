"""Every cloud opcloud deploys to: one registration record each.

The record is what the rest of opcloud needs to know about a cloud: where its regions (or sites) lie, which key of
a stack file names its provider's region (it must agree with `opcloud:region`), which Pulumi provider package
its resources come from and how that package names a resource's region, which module composes the platform on
it, how the policy pack reads its resources (its policy adapter) and what its provider computes in offline synth
(its mocks). The environment model, the stack program, the residency checks and the policy pack all read it: adding
a cloud is one folder (`components/<cloud>/` with its composer) and one `register(Cloud(...))` (ARCHITECTURE.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from opcloud import residency
from opcloud.errors import InputError


@dataclass(frozen=True)
class Cloud:
    name: str
    regions: Mapping[str, str]  # region or site -> ISO country (the residency registry's table of this cloud)
    composer: str  # module whose `compose(environment)` declares the platform on this cloud
    resource_packages: tuple[str, ...]  # Pulumi type packages (`aws`, `azure-native`) of its resources
    provider_region_key: str | None = None  # e.g. `aws:region`: must agree with opcloud:region
    provider_type: str | None = None  # its explicit providers' resource type (`pulumi:providers:aws`)
    provider_region_input: str | None = None  # that provider's region input (`region`, `location`)
    resource_type_prefixes: tuple[str, ...] = field(default=())  # whole types of other packages that are its own
    # Module with `POLICY` (policies/adapter.py's CloudPolicy): how the rules read its resources. Without one the
    # pack cannot judge the cloud, and its resources fail closed.
    policy_adapter: str | None = None
    # Module with `MOCKS` (stacks/mocks.py's CloudMocks): the outputs its provider computes, for offline synth.
    synth_mocks: str | None = None


CLOUDS: dict[str, Cloud] = {}


def register(cloud: Cloud) -> None:
    CLOUDS[cloud.name] = cloud


def get(name: str) -> Cloud:
    try:
        return CLOUDS[name]
    except KeyError:
        raise InputError(f"unknown cloud {name!r}: known clouds are {', '.join(CLOUDS)}") from None


def cloud_of_type(resource_type: str) -> str | None:
    """The cloud a Pulumi resource type belongs to, or None for a provider no cloud registered."""
    package = resource_type.split(":")[0]
    for cloud in CLOUDS.values():
        if package in cloud.resource_packages or resource_type.startswith(cloud.resource_type_prefixes or ("\0",)):
            return cloud.name
    return None


register(Cloud(
    name="aws",
    regions=residency.AWS_REGIONS,
    composer="opcloud.stacks.platform_aws",
    resource_packages=("aws",),
    provider_region_key="aws:region",
    provider_type="pulumi:providers:aws",
    provider_region_input="region",
    policy_adapter="opcloud.policies.aws",
    synth_mocks="opcloud.stacks.mocks_aws",
))  # fmt: skip
register(Cloud(
    name="azure",
    regions=residency.AZURE_REGIONS,
    composer="opcloud.stacks.platform_azure",
    resource_packages=("azure-native",),
    provider_region_key="azure-native:location",
    provider_type="pulumi:providers:azure-native",
    provider_region_input="location",
    policy_adapter="opcloud.policies.azure",
    synth_mocks="opcloud.stacks.mocks_azure",
))  # fmt: skip
register(Cloud(
    name="iaas",
    regions=residency.IAAS_SITES,
    composer="opcloud.stacks.platform_iaas",
    resource_packages=("pulumi-python",),  # the host steps: resources of opcloud's dynamic provider
    resource_type_prefixes=("opcloud:iaas:",),
    policy_adapter="opcloud.policies.iaas",
))  # fmt: skip
