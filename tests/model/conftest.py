from tests.training.conftest import fake_log, trained  # noqa: F401  (shared session fixtures)
