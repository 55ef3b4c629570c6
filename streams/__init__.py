"""The stream layer: the Faust worker, the local broker and the Kafka command-line tools.

The only code that knows about Kafka; the domain logic lives in :mod:`newsevents.model`.
"""
