"""Which distribution provides which import name, and what kind of package it is.

Installed metadata answers for what is installed here (``packages_distributions``: top_level.txt
or RECORD); the tables below answer for the common cases where the names differ and for packages
that are not installed on this machine. Names are PEP 503 canonical (``scikit-learn``).
"""

from __future__ import annotations

from functools import cache

from mlrelease.deps.requirements import canonical

# Distribution -> import names, where they differ from the distribution's name. Dotted names are
# namespace packages (google-cloud-*): `import google.cloud.logging` uses google-cloud-logging,
# not every google-* distribution.
IMPORT_NAMES: dict[str, tuple[str, ...]] = {
    "attrs": ("attr", "attrs"),
    "beautifulsoup4": ("bs4",),
    "faiss-cpu": ("faiss",),
    "faiss-gpu": ("faiss",),
    "google-api-core": ("google.api_core",),
    "google-auth": ("google.auth", "google.oauth2"),
    "google-cloud-aiplatform": ("google.cloud.aiplatform", "vertexai"),
    "google-cloud-bigquery": ("google.cloud.bigquery",),
    "google-cloud-logging": ("google.cloud.logging", "google.cloud.logging_v2"),
    "google-cloud-storage": ("google.cloud.storage",),
    "googleapis-common-protos": ("google.rpc", "google.type", "google.api"),
    "ipython": ("IPython",),
    "lightning": ("lightning", "pytorch_lightning"),
    "mysqlclient": ("MySQLdb",),
    "onnxruntime-gpu": ("onnxruntime",),
    "opencv-contrib-python": ("cv2",),
    "opencv-contrib-python-headless": ("cv2",),
    "opencv-python": ("cv2",),
    "opencv-python-headless": ("cv2",),
    "paddlepaddle": ("paddle",),
    "paddlepaddle-gpu": ("paddle",),
    "pillow": ("PIL",),
    "protobuf": ("google.protobuf",),
    "psycopg2-binary": ("psycopg2",),
    "pycryptodome": ("Crypto",),
    "pyjwt": ("jwt",),
    "pymupdf": ("fitz", "pymupdf"),
    "pyserial": ("serial",),
    "python-dateutil": ("dateutil",),
    "python-dotenv": ("dotenv",),
    "python-multipart": ("multipart", "python_multipart"),
    "pytorch-lightning": ("pytorch_lightning",),
    "pyyaml": ("yaml",),
    "scikit-image": ("skimage",),
    "scikit-learn": ("sklearn",),
    "sentence-transformers": ("sentence_transformers",),
    "setuptools": ("setuptools", "pkg_resources"),
    "tensorflow-cpu": ("tensorflow",),
    "tensorflow-gpu": ("tensorflow",),
    "tensorflow-intel": ("tensorflow",),
    "tensorflow-macos": ("tensorflow",),
    "ultralytics-thop": ("thop",),
    "umap-learn": ("umap",),
}

# Tools for writing, testing and running notebooks: never needed by the served model.
DEV_ONLY: frozenset[str] = frozenset(
    {
        "black",
        "coverage",
        "flake8",
        "hypothesis",
        "ipykernel",
        "ipython",
        "ipywidgets",
        "isort",
        "jupyter",
        "jupyterlab",
        "jupytext",
        "mypy",
        "nbconvert",
        "nbqa",
        "notebook",
        "papermill",
        "pre-commit",
        "pylint",
        "pytest",
        "pytest-cov",
        "ruff",
        "tox",
    }
)

# Packages for looking at data: runtime requirements only when the model code itself uses them.
DISPLAY: frozenset[str] = frozenset(
    {"matplotlib", "seaborn", "plotly", "bokeh", "altair", "ydata-profiling", "pandas-profiling", "sweetviz"}
)

# Packages that are used without an import of their own: a plug-in another package loads.
# distribution -> the import that loads it.
IMPLICIT: dict[str, tuple[str, ...]] = {
    "pyarrow": ("pandas",),
    "fastparquet": ("pandas",),
    "openpyxl": ("pandas",),
    "xlrd": ("pandas",),
    "odfpy": ("pandas",),
    "tabulate": ("pandas",),
    "lxml": ("pandas", "bs4"),
    "html5lib": ("pandas", "bs4"),
    "tzdata": ("pandas", "zoneinfo"),
    "scipy": ("sklearn",),
    "threadpoolctl": ("sklearn",),
    "joblib": ("sklearn",),
    "uvicorn": ("fastapi", "starlette"),
    "gunicorn": ("fastapi", "flask"),
}


@cache
def _installed() -> dict[str, tuple[str, ...]]:
    """distribution -> top-level import names, from what is installed here."""
    from importlib.metadata import packages_distributions

    out: dict[str, list[str]] = {}
    for top, dists in packages_distributions().items():
        for dist in dists:
            out.setdefault(canonical(dist), []).append(top)
    return {d: tuple(sorted(set(t))) for d, t in out.items()}


def import_names(dist: str) -> tuple[str, ...]:
    """The import names a distribution provides (``scikit-learn`` -> ``('sklearn',)``)."""
    dist = canonical(dist)
    if dist in IMPORT_NAMES:
        return IMPORT_NAMES[dist]
    installed = tuple(n for n in _installed().get(dist, ()) if not n.startswith("_") and n != "google")
    return installed or (dist.replace("-", "_"),)


def provides(dist: str, module: str) -> bool:
    """Does ``dist`` provide the (dotted) ``module``?"""
    return any(module == name or module.startswith(name + ".") for name in import_names(dist))


def distribution_for(module: str) -> str:
    """The distribution to declare for an import: the table, installed metadata, or the name itself."""
    for dist, names in IMPORT_NAMES.items():
        if any(module == n or module.startswith(n + ".") for n in names) and not dist.startswith(
            (
                "tensorflow-",
                "opencv-contrib",
                "opencv-python-",
                "faiss-gpu",
                "onnxruntime-gpu",
                "paddlepaddle-",
            )
        ):
            return dist
    top = module.split(".", 1)[0]
    for dist, names in _installed().items():
        if top in names and top != "google":
            return dist
    return canonical(top)
