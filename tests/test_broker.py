"""The Redis broker transport's one fix (config/broker.py): a lost connection must not
stop the worker. The drill `make drills DRILLS=redis` shows it end to end."""

from types import SimpleNamespace

import pytest
from django.conf import settings
from kombu import Connection

from config import broker
from config.celery import app


@pytest.mark.redis
def test_the_worker_and_beat_use_our_transport_with_redis():
    assert settings.CELERY_BROKER_TRANSPORT == "config.broker:Transport"
    with app.connection_for_write() as connection:
        assert isinstance(connection.transport, broker.Transport)
        assert connection.transport.Channel is broker.Channel


def test_a_closed_connection_is_a_connection_error_not_an_attribute_error():
    connection = Connection("redis://127.0.0.1:1/0", transport="config.broker:Transport")
    channel = broker.Channel.__new__(broker.Channel)  # as left once its connection closed
    channel.connection = SimpleNamespace(client=None)
    # Celery's closing code ignores connection errors; an AttributeError stopped it.
    with pytest.raises(connection.connection_errors):
        channel._connparams()
    assert AttributeError not in connection.connection_errors
