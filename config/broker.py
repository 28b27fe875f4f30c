"""kombu's Redis transport with one fix, for the Celery worker and beat.

Celery 5.7.0 (with kombu 5.7.0), on losing its Redis connection, first closes the
broken connection and then, closing the channel, restores the unacknowledged
``acks_late`` messages through it: kombu builds a client from the closed connection
(``_connparams`` reads ``self.connection.client``, now None), the AttributeError
escapes the code that ignores connection errors, and the worker exits with status 1
instead of reconnecting (``make drills``, drill ``redis``). Here a closed connection
is reported as what it is, a connection error: the closing code ignores it and the
worker reconnects. The message it could not restore waits in Redis's unacked set
and comes back after the visibility timeout, or was lost with a restarted Redis; the
sweep re-queues whatever it carried either way (README › Reliability).

Remove this module (and CELERY_BROKER_TRANSPORT in settings) once a kombu release
fixes it: run the drill without it first.
"""

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous=False):
        if self.connection.client is None:
            raise RedisConnectionError("The broker connection is closed.")
        return super()._connparams(asynchronous=asynchronous)


class Transport(kombu_redis.Transport):
    Channel = Channel
