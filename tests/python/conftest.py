import os
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


def data_dir() -> pathlib.Path:
    """The shared sample data: $B2B_DATA, else ../shared/data beside the repository."""
    return pathlib.Path(os.environ.get("B2B_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> pathlib.Path:
    d = data_dir()
    if not d.is_dir():
        pytest.skip(f"sample data not found at {d} (set B2B_DATA to the shared/data folder)")
    return d
