"""Python client for the Layers Partner API.

``Layers`` (blocking) and ``AsyncLayers`` (``async``) share their methods; answers are the
generated TypedDicts of ``layers_partner_api.models``; a non-2xx answer raises ``LayersError``;
``verify_webhook`` checks a delivery's signature.
"""

from . import models
from ._client import AsyncLayers, Layers, QueryValue
from ._errors import LayersConnectionError, LayersError
from .models import Event
from .webhooks import WebhookVerificationError, verify_webhook

__all__ = [
    "AsyncLayers",
    "Event",
    "Layers",
    "LayersConnectionError",
    "LayersError",
    "QueryValue",
    "WebhookVerificationError",
    "models",
    "verify_webhook",
]
__version__ = "0.1.0"
