import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))  # sample_data, for every test folder
from sample_data import data_dir  # noqa: E402


@pytest.fixture(scope="session")
def shared_data() -> pathlib.Path:
    d = data_dir()
    if not d.is_dir():
        pytest.skip(f"sample data not found at {d} (set B2B_DATA to the shared/data folder)")
    return d
