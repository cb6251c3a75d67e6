"""The Spark jobs a block of code starts, with the group and description each was named with
(``lakehouse.runtime.spark.spark_step``): a listener on Spark's listener bus, a Python object the
JVM calls back through py4j."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

from pyspark.java_gateway import ensure_callback_server_started

from lakehouse.runtime.spark import JOB_DESCRIPTION, JOB_GROUP, JOB_POOL


class Job(NamedTuple):
    id: int
    group: str | None
    description: str | None
    pool: str | None = None  # the scheduler pool it ran in


class _Listener:
    """``SparkListenerInterface``: records each job's start, ignores every other event."""

    def __init__(self) -> None:
        self.jobs: list[Job] = []

    def onJobStart(self, event: Any) -> None:  # the JVM interface's name
        properties = event.properties()
        self.jobs.append(Job(event.jobId(), properties.getProperty(JOB_GROUP),
                             properties.getProperty(JOB_DESCRIPTION),
                             properties.getProperty(JOB_POOL)))

    def __getattr__(self, name: str) -> Callable[..., None]:
        if name.startswith("on"):
            return lambda *_: None
        raise AttributeError(name)

    class Java:
        implements = ["org.apache.spark.scheduler.SparkListenerInterface"]


@contextmanager
def recorded_jobs(spark: Any) -> Iterator[list[Job]]:
    """The jobs started inside the block (the list is complete once the block has ended)."""
    context = spark.sparkContext
    ensure_callback_server_started(context._gateway)
    listener = _Listener()
    bus = context._jsc.sc()
    bus.addSparkListener(listener)
    try:
        yield listener.jobs
    finally:
        bus.listenerBus().waitUntilEmpty()
        bus.removeSparkListener(listener)
