"""The Jenkins QA test stand on Azure: network, vault, artifacts, controller and agents.

A separate, smaller program than the platform (stacks/test_stand.py composes it). Pure parts (NSG
rules, cloud-init documents) are plain functions tested without Pulumi.
"""
