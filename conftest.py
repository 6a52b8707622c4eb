"""Repository-wide pytest setup.

Hypothesis: CI sets ``CI=true``, which loads Hypothesis' ``ci`` profile (derandomized, no
deadline); a ``dev`` profile with no deadline is the default elsewhere, because virtual time
makes wall-clock deadlines meaningless.
"""

import os

from hypothesis import settings

settings.register_profile("dev", deadline=None, max_examples=50)
if not os.environ.get("CI"):
    settings.load_profile("dev")
