"""Job functions, enqueued by dotted name with ids as arguments (never objects).

Jobs are serialized as JSON, never pickled: the operator reads these jobs' metadata and results
from the same Redis the club's workers write to, and unpickling data a worker wrote would let a
compromised worker run code in the operator."""

from rq.serializers import JSONSerializer

SERIALIZER = JSONSerializer
