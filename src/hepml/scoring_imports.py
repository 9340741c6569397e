"""XGBoost imported for a job that only loads boosters and scores events.

``import xgboost`` imports scikit-learn (for XGBoost's own estimator classes), and with it
scipy.stats: about 1.5 s of a scoring job's start-up, paid once per job, and a sample split
into jobs per file (``reading.files_per_job``) pays it once per part. The jobs that only
load ``model.json`` boosters and call ``inplace_predict`` never use those classes, so they
import XGBoost with scikit-learn hidden from it. scikit-learn stays importable afterwards
(calibration imports it when it needs it); only XGBoost's scikit-learn estimator classes
(``xgboost.XGBClassifier``), which hepml never uses, are then unusable in that process.
"""

from __future__ import annotations

import sys

__all__ = ["import_xgboost_for_scoring"]


def import_xgboost_for_scoring() -> None:
    """Import XGBoost without scikit-learn, unless either is already imported (then the
    process may use XGBoost's scikit-learn classes, and nothing is changed)."""
    if "xgboost" in sys.modules or "sklearn" in sys.modules:
        return
    sys.modules["sklearn"] = None  # `import sklearn` raises ImportError while this is set
    try:
        import xgboost  # noqa: F401
    finally:
        del sys.modules["sklearn"]
