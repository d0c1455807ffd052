"""A per-epoch progress bar: tqdm's when it is installed and output is a terminal."""
import sys


class _Quiet:
    def update(self, text):
        pass

    def close(self):
        pass


class _Tqdm:
    def __init__(self, tqdm, epochs):
        self._bar = tqdm(total=epochs, unit="epoch", leave=True)

    def update(self, text):
        self._bar.set_postfix_str(text, refresh=False)
        self._bar.update(1)

    def close(self):
        self._bar.close()


class _Line:
    """Fallback without tqdm: one line rewritten in place."""

    def __init__(self, epochs):
        self._epochs, self._done = epochs, 0

    def update(self, text):
        self._done += 1
        sys.stderr.write(f"\repoch {self._done}/{self._epochs}  {text}")
        sys.stderr.flush()

    def close(self):
        if self._done:
            sys.stderr.write("\n")


def bar(enabled, epochs):
    if not enabled or not sys.stderr.isatty():
        return _Quiet()
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _Line(epochs)
    return _Tqdm(tqdm, epochs)
