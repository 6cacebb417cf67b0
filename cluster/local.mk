# cluster/: nodes, the handshake, remote references and failure detection.
