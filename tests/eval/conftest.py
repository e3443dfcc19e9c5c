from tests.train.conftest import store32  # noqa: F401  (the tiny real store)
