"""What the tests share: the case table, the twins, the test servers, the recorded
answers' replay (``from support.twin import BOTH``; ``tests/conftest.py`` puts
``tests/`` on ``sys.path``)."""
