"""The OpenAPI 3 document of API v1, built from the contract's column table, and the
checks that hold request bodies to it.

:mod:`~service.openapi.schemas` declares the request bodies' and answers' schemas,
:mod:`~service.openapi.document` the paths, one function per resource, and
:mod:`~service.openapi.validate` enforces the request schemas (a 400 naming the field).
"""
from service.openapi.document import document, document_for
from service.openapi.schemas import TEXT_MAX, TIMESTAMP, ports_in_force
from service.openapi.validate import check_body, check_integers, unknown_fields
from service.store import INT_MAX, INTEGER_KINDS

__all__ = ["INTEGER_KINDS", "INT_MAX", "TEXT_MAX", "TIMESTAMP", "check_body", "check_integers",
           "document", "document_for", "ports_in_force", "unknown_fields"]
