"""Parameters kept outside a program: the ``io_parameters`` module and the
parameter index it reads from (``.irpa``, ``.safetensors`` and ``.gguf``)."""
