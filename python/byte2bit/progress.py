"""Progress on long work, as every public function takes it: ``progress=True`` draws a tqdm bar on
stderr (hidden when stderr is not a terminal), a callable receives the fraction done and cancels
the work by returning False, and None/False shows nothing."""
from __future__ import annotations

import sys

from .errors import Byte2BitError


def ticker(progress, total: int, desc: str, unit: str):
    """(tick(n), close()) counting ``total`` units of work."""
    if progress is True:
        from tqdm import tqdm
        bar = tqdm(total=total, desc=desc, unit=unit, disable=None, file=sys.stderr)
        return bar.update, bar.close
    if callable(progress):
        done = [0]

        def tick(n):
            done[0] += n
            if progress(done[0] / max(total, 1)) is False:
                raise Byte2BitError(f"{desc} cancelled")
        return tick, (lambda: None)
    return (lambda n: None), (lambda: None)


def gdal_callback(progress, desc: str):
    """(GDAL progress callback or None, close()) for work GDAL drives (CreateCopy)."""
    if progress is True:
        from tqdm import tqdm
        bar = tqdm(total=100, desc=desc, unit="%", disable=None, file=sys.stderr,
                   bar_format="{l_bar}{bar}| {elapsed}<{remaining}")

        def cb(fraction, _msg, _data):
            bar.n = round(fraction * 100, 1)
            bar.refresh()
            return 1
        return cb, bar.close
    if callable(progress):
        return (lambda fraction, _msg, _data: 0 if progress(fraction) is False else 1), (lambda: None)
    return None, (lambda: None)
