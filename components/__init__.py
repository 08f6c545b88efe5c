"""Pulumi ComponentResources of the platform: cloud-neutral Args here, one folder per cloud."""
