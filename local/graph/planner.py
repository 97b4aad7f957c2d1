"""(in progress)"""

from .core import Router


def register(router: Router) -> None:
    pass
