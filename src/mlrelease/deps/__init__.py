"""Dependencies of a handoff: pin them for the image (``lock``), and audit them (``deps check``).

- ``lock``: compile ``requirements.in`` (together with the model server's own requirements) into a
  hash-pinned ``requirements.txt`` for the image's platform and Python, with a header that records
  how, so ``lock --check`` can tell a stale or hand-edited lock without resolving.
- ``audit``: unused, missing, misplaced and duplicate packages, and loose pins.
- ``imports``: what the handoff's notebooks and modules import; ``names``: which distribution
  provides which import name.
"""
