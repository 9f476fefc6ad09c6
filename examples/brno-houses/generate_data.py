"""Generate the synthetic Brno house-price data set, reproducibly byte for byte.

    python generate_data.py [--seed 20261127] [--out data]

Writes data/reference.csv (the training distribution) and data/validation.csv. Prices are in CZK
and follow what drives flat prices in Brno: floor area, district and distance to the centre, age
and energy class, balconies and lifts, with log-normal noise.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

SEED = 20261127
N_REFERENCE = 8000
N_VALIDATION = 2000

# district: (typical distance to the centre in km, price level relative to the city)
DISTRICTS: dict[str, tuple[float, float]] = {
    "Brno-střed": (1.0, 1.22),
    "Královo Pole": (3.2, 1.10),
    "Žabovřesky": (3.0, 1.12),
    "Brno-sever": (2.8, 1.02),
    "Židenice": (3.5, 0.95),
    "Komín": (5.0, 1.00),
    "Řečkovice": (6.0, 0.95),
    "Bohunice": (5.0, 0.90),
    "Starý Lískovec": (5.8, 0.88),
    "Líšeň": (7.0, 0.85),
    "Slatina": (6.0, 0.86),
    "Bystrc": (9.0, 0.88),
}
DISTRICT_SHARE = np.array([14, 10, 9, 10, 9, 5, 6, 7, 6, 10, 5, 9], dtype=float)
ENERGY_CLASSES = ["A", "B", "C", "D", "E", "F", "G"]
ENERGY_FACTOR = np.array([1.08, 1.05, 1.02, 1.0, 0.97, 0.94, 0.91])
PRICE_PER_M2_CZK = 98_000


def generate(n: int, rng: np.random.Generator) -> pd.DataFrame:
    names = list(DISTRICTS)
    district_idx = rng.choice(len(names), size=n, p=DISTRICT_SHARE / DISTRICT_SHARE.sum())
    base_dist = np.array([DISTRICTS[names[i]][0] for i in district_idx])
    level = np.array([DISTRICTS[names[i]][1] for i in district_idx])
    distance = np.clip(base_dist * rng.lognormal(0.0, 0.25, n), 0.2, 15.0)

    area = np.clip(rng.lognormal(np.log(62.0), 0.38, n), 18.0, 240.0)
    rooms = np.clip(np.round(area / 24.0 + rng.normal(0.0, 0.6, n)), 1, 7).astype(int)
    # Panel estates (1960-1990) dominate the outer districts; the centre is older or new.
    year = np.where(
        rng.random(n) < np.where(base_dist > 4.5, 0.55, 0.2),
        rng.integers(1962, 1991, n),
        rng.choice([1905, 1925, 1935, 1950, 1995, 2005, 2012, 2018, 2022, 2025], n) + rng.integers(0, 5, n),
    )
    year = np.minimum(year, 2026)
    storeys = np.where(year.astype(int) >= 1962, rng.integers(4, 13, n), rng.integers(2, 6, n))
    floor = np.floor(rng.random(n) * storeys).astype(int)
    elevator = (storeys > 4) | ((year >= 1995) & (rng.random(n) < 0.8))
    balcony = rng.random(n) < np.where(year >= 1962, 0.75, 0.35)
    energy_base = np.where(year >= 2012, 1, np.where(year >= 1995, 2, np.where(year >= 1962, 4, 5)))
    energy_idx = np.clip(energy_base + rng.integers(-1, 2, n), 0, 6)

    age = 2026 - year
    age_factor = np.where(age <= 5, 1.12, np.where(age > 90, 1.03, 1.0 - 0.0022 * np.minimum(age, 60)))
    floor_factor = np.where(floor == 0, 0.95, np.where((floor >= 4) & ~elevator, 0.93, 1.0))
    size_factor = (area / 62.0) ** -0.08  # small flats cost more per square metre
    price = (
        PRICE_PER_M2_CZK
        * area
        * level
        * np.exp(-0.028 * distance)
        * age_factor
        * floor_factor
        * size_factor
        * ENERGY_FACTOR[energy_idx]
        * np.where(balcony, 1.04, 1.0)
        * rng.lognormal(0.0, 0.09, n)
    )
    return pd.DataFrame(
        {
            "area_m2": np.round(area, 1),
            "rooms": rooms,
            "floor": floor,
            "year_built": year.astype(int),
            "distance_to_centre_km": np.round(distance, 2),
            "district": [names[i] for i in district_idx],
            "energy_class": [ENERGY_CLASSES[i] for i in energy_idx],
            "has_balcony": balcony.astype(int),
            "has_elevator": elevator.astype(int),
            "price": (np.round(price / 1000.0) * 1000).astype(np.int64),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "data")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    frame = generate(N_REFERENCE + N_VALIDATION, rng)
    frame.insert(0, "listing_id", [f"BRN-{i:05d}" for i in range(len(frame))])
    args.out.mkdir(parents=True, exist_ok=True)
    frame.iloc[:N_REFERENCE].to_csv(args.out / "reference.csv", index=False, lineterminator="\n")
    frame.iloc[N_REFERENCE:].to_csv(args.out / "validation.csv", index=False, lineterminator="\n")
    print(f"wrote {N_REFERENCE} reference and {N_VALIDATION} validation rows to {args.out}")


if __name__ == "__main__":
    main()
