"""How many replicas, and how big each one is: the HPA's arithmetic and the pod's resources.

The HPA is sized for a lunchtime peak of ``peak_factor`` times the baseline traffic:

    per replica at the CPU target = replica_rps             (measured at target_cpu, one core;
                                                             a GPU release: at that duty cycle)
    baseline                      = baseline_rps            (default: what min replicas carry)
    peak                          = baseline * peak_factor
    replicas at the peak          = ceil(peak / replica_rps)

``maxReplicas`` is that number unless the config names a larger one (a smaller one is an error:
it could not carry the peak). Scale-up may add every missing replica in one step (so the peak is
carried within one HPA period, 15 s, plus the pods' start-up), and doubles beyond it; scale-down
waits five minutes of lower load and then removes half the pods per minute, so the replicas
"drop off again" after lunch without flapping on a short lull.

The container asks for one core (``replica_rps`` is measured on one core: bench/bench_replica.py)
and for memory from the evaluate figures: the server's idle RSS, the model, and the predict
peak, plus headroom; both are overridable in ``deploy.gke``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mlrelease.config import GkeConfig
from mlrelease.deploy.release import Figures
from mlrelease.errors import ConfigError

# The server's resident memory before the first request (numpy, pandas, scikit-learn, uvicorn and
# the Brno model): 242 MiB, measured by bench/bench_replica.py; rounded up.
SERVER_RSS_MIB = 256
MEMORY_HEADROOM = 0.5  # on top of the model and the predict peak
MEMORY_LIMIT_FACTOR = 1.5  # the limit over the request: room for a burst of large batches
SCALE_UP_PERIOD_S = 15
SCALE_DOWN_WINDOW_S = 300
SCALE_DOWN_PERCENT = 50


@dataclass(frozen=True)
class Autoscaling:
    """The inputs and the outcome of the HPA's arithmetic."""

    replica_rps: float
    target_cpu: int
    baseline_rps: float
    peak_factor: float
    min_replicas: int
    max_replicas: int
    gpu: bool = False
    replica_p99_ms: float | None = None

    @property
    def signal(self) -> str:
        return "GPU duty cycle" if self.gpu else "of one core"

    @property
    def peak_rps(self) -> float:
        return self.baseline_rps * self.peak_factor

    @property
    def peak_replicas(self) -> int:
        return peak_replicas(self.baseline_rps, self.peak_factor, self.replica_rps)

    @property
    def scale_up_pods(self) -> int:
        """Pods one scale-up step may add: all that the peak needs beyond the minimum."""
        return max(1, self.peak_replicas - self.min_replicas)

    def comment(self) -> str:
        """The arithmetic, as the comment above the rendered HPA (numbers exact, not rounded)."""
        n = "{:.12g}".format
        rps, peak = n(self.replica_rps), n(self.peak_rps)
        return "\n".join(
            [
                f"Sized for a {n(self.peak_factor)}x lunchtime peak:",
                f"  one replica carries {rps} req/s at {self.target_cpu}% {self.signal}"
                + (f", p99 {n(self.replica_p99_ms)} ms" if self.replica_p99_ms is not None else "")
                + " (deploy.gke.replica_rps, replica_p99_ms: measured by bench/bench_replica.py)",
                f"  baseline {n(self.baseline_rps)} req/s x {n(self.peak_factor)} = peak {peak} req/s",
                f"  replicas at the peak = ceil({peak} / {rps}) = {self.peak_replicas}",
                f"  minReplicas {self.min_replicas}, maxReplicas {self.max_replicas}",
                f"  scale-up: +{self.scale_up_pods} pods or +100% per {SCALE_UP_PERIOD_S} s,"
                " whichever is more",
                f"  scale-down: after {SCALE_DOWN_WINDOW_S} s of lower load, -{SCALE_DOWN_PERCENT}% per 60 s",
            ]
        )


def peak_replicas(baseline_rps: float, peak_factor: float, replica_rps: float) -> int:
    # A tiny epsilon keeps 10 x 40 / 400 = 1.0000000000000002 from becoming 2 replicas.
    return max(1, math.ceil(baseline_rps * peak_factor / replica_rps - 1e-9))


def autoscaling(gke: GkeConfig, *, gpu: bool = False) -> Autoscaling:
    """The HPA's numbers from the config; a ``replicas.max`` below the peak's need is an error."""
    baseline = gke.baseline_rps if gke.baseline_rps is not None else gke.min_replicas * gke.replica_rps
    need = peak_replicas(baseline, gke.peak_factor, gke.replica_rps)
    if gke.max_replicas is not None and gke.max_replicas < need:
        raise ConfigError(
            f"deploy.gke.replicas.max is {gke.max_replicas},"
            f" but the {gke.peak_factor:.12g}x peak needs {need}",
            hint=(
                f"baseline {baseline:.12g} req/s x {gke.peak_factor:.12g}"
                f" / {gke.replica_rps:.12g} req/s per replica;"
                " raise replicas.max or leave it out to have it computed"
            ),
        )
    top = max(gke.max_replicas or need, gke.min_replicas)
    return Autoscaling(
        gke.replica_rps,
        gke.target_cpu,
        baseline,
        gke.peak_factor,
        gke.min_replicas,
        top,
        gpu,
        gke.replica_p99_ms,
    )


@dataclass(frozen=True)
class Resources:
    cpu: str
    memory_request: str
    memory_limit: str


def _mib(n: float) -> str:
    return f"{int(math.ceil(n / 16) * 16)}Mi"  # whole 16 MiB steps keep the diffs quiet


def resources(gke: GkeConfig, figures: Figures) -> Resources:
    """Requests and limits: one core; memory from the measured figures unless the config names it."""
    if gke.memory is not None:
        return Resources(gke.cpu, gke.memory, gke.memory)
    measured = (figures.model_size_bytes or 0) + (figures.peak_memory_bytes or 0)
    request = SERVER_RSS_MIB + measured * (1 + MEMORY_HEADROOM) / 2**20
    return Resources(gke.cpu, _mib(request), _mib(request * MEMORY_LIMIT_FACTOR))
