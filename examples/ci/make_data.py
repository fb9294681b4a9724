"""Write the example's churn data as CSV (in a real project the data arrives from upstream).

python make_data.py OUT.csv [SEED]
"""

from __future__ import annotations

import sys

import pandas as pd
from sklearn.datasets import make_classification


def main(out: str, seed: int = 7) -> None:
    """Write 2,000 rows of six features and a ``churn`` label, generated from ``seed``."""
    X, y = make_classification(
        n_samples=2000, n_features=6, n_informative=4, weights=[0.75, 0.25], random_state=seed
    )
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    frame["churn"] = y
    frame.to_csv(out, index=False)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 7)
