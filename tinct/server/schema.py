"""The REST contract, stated exactly in the OpenAPI schema: what a generated client or an API fuzzer reads.

FastAPI derives the colorize form's schema from its parameters, where every field is an optional
free string. :func:`exact_openapi` tightens it to what the endpoint really accepts: ``file``
required and binary; enums for ``model`` (the registry), ``format``, ``method``, ``mode``, ``lut``
and ``stretch``; bounds for ``size`` (this server's limits), ``vivid``, ``axis`` and ``frame``; no other field
(``additionalProperties: false``: an unknown field is a 422). Fields that apply to some uploads only
(``window``... to DICOM, NIfTI and FITS) say so in their descriptions; sending them with another kind
of upload is a 422 naming the field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from tinct.apps.medical import MODES
from tinct.classical.lut import BUILTIN_LUTS
from tinct.io.medical.fits import STRETCHES
from tinct.registry import MODELS
from tinct.server.service import MEDICAL_OUTPUTS, MIN_WORKING_SIZE, OUTPUT_FORMATS, VIVID_STEP, Limits
from tinct.session import METHODS


def field_schemas(limits: Limits) -> dict[str, dict[str, Any]]:
    """The exact JSON schema of each colorize form field (the ones with more than a type)."""
    formats = sorted({*OUTPUT_FORMATS, *MEDICAL_OUTPUTS})
    return {
        "file": {"type": "string", "format": "binary"},
        "reference": {"type": "string", "format": "binary"},
        "model": {"type": "string", "enum": list(MODELS)},
        "format": {"type": "string", "enum": formats},
        "size": {"type": "integer", "minimum": MIN_WORKING_SIZE, "maximum": limits.max_working_size},
        "vivid": {"type": "number", "minimum": 0, "maximum": 1, "multipleOf": VIVID_STEP},
        "method": {"type": "string", "enum": list(METHODS)},
        "mode": {"type": "string", "enum": list(MODES)},
        "lut": {"type": "string", "enum": sorted(BUILTIN_LUTS)},
        "stretch": {"type": "string", "enum": list(STRETCHES)},
        "axis": {"type": "integer", "enum": [0, 1, 2]},
        "frame": {"type": "integer", "minimum": 0},
    }


def exact_openapi(app: FastAPI, limits: Limits) -> Callable[[], dict[str, Any]]:
    """``app.openapi`` with the colorize form's schema made exact (see the module docstring)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            exact = field_schemas(limits)
            for name, body in schema.get("components", {}).get("schemas", {}).items():
                if not name.startswith("Body_colorize"):
                    continue
                for field, prop in body.get("properties", {}).items():
                    typed = exact.get(field)
                    if typed is None:  # keep the type, drop the null of an optional form field
                        kinds = [a for a in prop.pop("anyOf", []) if a.get("type") != "null"]
                        typed = kinds[0] if kinds else {}
                    else:
                        prop.pop("anyOf", None)
                    prop.update(typed)
                body["required"] = ["file"]
                body["additionalProperties"] = False
            app.openapi_schema = schema
        return app.openapi_schema

    return openapi
