"""Redis state: key builders and the queues between roles. The only package that talks to Redis."""

from bot.store.ingress import Ingress
from bot.store.keys import DEDUP_TTL, Keys

__all__ = ["DEDUP_TTL", "Ingress", "Keys"]
