"""Namespace of sslrec's custom artifact types.

Kubeflow V2 / Vertex name a custom artifact type `<namespace>.<Name>` and the
component containers import it back from that path, so the types are
reachable here: `sslrec.MutualInformation`.
"""
from components.mutual_information.artifact import MutualInformation

__all__ = ['MutualInformation']
