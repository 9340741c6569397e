"""What the Snakemake workflow needs from hepml: the plan, analysis directories, batch
resources. The rules reach it only through the ``hepml`` command.
"""

from __future__ import annotations

from hepml._lazy import lazy_exports

_EXPORTS = {
    "init_analysis": "hepml.workflow.analysis",
    "slurm_limits": "hepml.workflow.resources",
    "workflow_plan": "hepml.workflow.plan",
    "workflow_snakefile": "hepml.workflow.analysis",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
