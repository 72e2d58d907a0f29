"""orch: a declarative GitOps reconciler for fleets of AI coding-agent workers."""

__version__ = "0.1.0"
