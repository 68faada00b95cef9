"""The ``check`` module used by compiled check tests (``asyncvm check``)."""

from ._module import CHECK_EXPORTS, almost_equal, create_check_module

__all__ = ["CHECK_EXPORTS", "almost_equal", "create_check_module"]
