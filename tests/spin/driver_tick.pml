/*
 * driver.pml with the I/O thread's tick poll of the driver's set
 * (transport/tcp.c:actor__tcp_drv_poll_io): see driver.pml's TICK. A file
 * of its own so that tests/spin/models.test checks it, and its bug
 * variant, beside the model without it.
 */
#define TICK
#include "driver.pml"
