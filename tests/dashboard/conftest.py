import pytest


@pytest.fixture(autouse=True)
def _own_var_dir(settings, tmp_path):
    """bootstrap writes the first login under VAR_DIR: never into a developer's var/."""
    settings.VAR_DIR = tmp_path / "var"
