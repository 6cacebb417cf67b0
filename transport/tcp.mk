# transport/: TCP on io_uring and on epoll, and the transport factory.
