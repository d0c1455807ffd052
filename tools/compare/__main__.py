"""``python tools/compare``: the peer comparison (see ``__init__.py``)."""
import pathlib
import sys

# Run as a directory, Python puts that directory first on sys.path.  Its parent
# goes there instead: the modules load as the package ``compare``, and none of
# their short names can shadow an installed module.
sys.path[0] = str(pathlib.Path(__file__).resolve().parent.parent)

from compare.runner import main  # noqa: E402

sys.exit(main())
