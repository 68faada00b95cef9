"""Serving programs over HTTP with the Open Inference Protocol (KServe v2).

``asyncvm serve --module=model.vmfb`` (or :func:`serve`) serves every public
function of a program as a model, at the endpoints Triton, KServe and
MLServer speak, so clients such as ``tritonclient`` work unchanged.
:func:`create_application` gives the ASGI application itself (Starlette),
for a program or for any :class:`Model`. Needs the ``serve`` extra
(starlette, uvicorn, prometheus_client).
"""

from ._application import ServerState, create_application
from ._datatypes import datatype_of, dtype_of
from ._errors import ProtocolError, http_status_for
from ._models import Model, ProgramModel, TensorSpec, models_of_program
from ._server import ServeSettings, build_application, serve
from ._tensors import InferenceRequest, decode_request, encode_response

__all__ = ["InferenceRequest", "Model", "ProgramModel", "ProtocolError", "ServeSettings",
           "ServerState", "TensorSpec", "build_application", "create_application",
           "datatype_of", "decode_request", "dtype_of", "encode_response", "http_status_for",
           "models_of_program", "serve"]
