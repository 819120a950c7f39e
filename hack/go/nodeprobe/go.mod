// A tiny static HTTP server that the real node's tests run as a pod (see tests/integration/test_node.py).
module clubplatform.local/hack/nodeprobe

go 1.25.0
