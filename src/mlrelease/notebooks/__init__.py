"""Notebook handoff checks: lint rules, clean-kernel execution, and export to a clean script.

``lint.lint_paths`` runs the rules (``rules.RULES``) through ruff and vulture (``engines``) and the
checks no engine has (``checks``); ``execute`` re-runs a notebook in a fresh kernel (in a scratch
copy of the handoff), which ``kernels`` builds from the handoff's lock; ``export``
writes the notebook as a plain script; ``report`` renders a ``LintReport`` as a table, JSON and SARIF.
"""
