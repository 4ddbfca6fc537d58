"""kombu's Redis transport with one repair, used for every redis:// broker (settings).

After losing the broker, Celery's consumer (5.7) first collects the connection, which detaches the
transport's client, then closes it, which restores the unacknowledged messages through a new Redis
client built from that detached client: kombu raises AttributeError there. That is not one of the
transport's connection errors, so the worker stops for good ("Unrecoverable error") instead of
reconnecting, and transactional delivery halts until someone restarts it (seen on every Redis
restart under load: bench/crash_delivery.py --scenario redis). Raised as a connection error, it is
ignored like the other errors of a lost broker: the consumer reconnects. The messages it could not
restore are in a Redis that lost them anyway or are delivered again after the visibility timeout;
the sweeper re-enqueues their events either way (DLV-3).
"""

import redis
from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous=False):
        if self.connection.client is None:
            raise redis.exceptions.ConnectionError("the broker connection was closed")
        return super()._connparams(asynchronous=asynchronous)


class Transport(kombu_redis.Transport):
    Channel = Channel
