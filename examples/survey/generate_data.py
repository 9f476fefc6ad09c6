"""Generate the survey data: respondents aged 18 to 30 (training, reference) and 60 to 85 (traffic).

    python generate_data.py        # data/train.csv, data/reference.csv, data/seniors.csv

Each respondent answers whether they would use the university's new study app (``answer``: yes
or no). Among the young, the answer depends on hours online a day, the faculty and, within the
age band, age itself: the older, the less likely. The model learns that slope from 18 to 30; the
traffic comes from 60 to 85, far outside anything it saw. Fixed seeds: the same files every run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent
FACULTIES = ["arts", "science", "law", "medicine", "economics"]


def respondents(n: int, ages: tuple[int, int], seed: int, first_id: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.integers(ages[0], ages[1] + 1, n)
    hours = np.round(rng.gamma(3.0, 1.3, n), 1)
    faculty = rng.choice(FACULTIES, n, p=[0.25, 0.25, 0.15, 0.15, 0.2])
    bonus = pd.Series(faculty).map(
        {"arts": 0.0, "science": 0.6, "law": -0.3, "medicine": 0.2, "economics": 0.3}
    )
    logit = 2.2 - 0.16 * (age - 18) + 0.35 * (hours - 4) + bonus.to_numpy()
    answer = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    return pd.DataFrame(
        {
            "respondent_id": np.arange(first_id, first_id + n),
            "age": age,
            "hours_online": hours,
            "faculty": faculty,
            "answer": answer,
        }
    )


def main() -> None:
    data = HERE / "data"
    data.mkdir(exist_ok=True)
    respondents(4000, (18, 30), seed=1, first_id=1).to_csv(data / "train.csv", index=False)
    respondents(2000, (18, 30), seed=2, first_id=10_001).to_csv(data / "reference.csv", index=False)
    # the seniors' true answers arrive later; the monitor gets them as --labels
    respondents(600, (60, 85), seed=3, first_id=50_001).to_csv(data / "seniors.csv", index=False)


if __name__ == "__main__":
    main()
