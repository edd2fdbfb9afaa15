"""The local sandbox: a moto server for the control plane (server.py), the seam that corrects its gaps
(seam.py, corrections.py) and the local data plane (dataplane.py). Importing this package registers
the "sandbox" target with workbook.connect."""
from ..connect import register_target
from .seam import SandboxTarget

register_target("sandbox", SandboxTarget.for_params)
