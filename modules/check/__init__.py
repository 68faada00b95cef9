"""The ``check`` module used by compiled check tests (``asyncvm check``)."""

from ._module import almost_equal, create_check_module

__all__ = ["almost_equal", "create_check_module"]
