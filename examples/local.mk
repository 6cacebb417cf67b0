# examples/: small programs that show the API; built by make, not installed.
noinst_PROGRAMS += examples/mailbox-demo
examples_mailbox_demo_LDADD = libactor-core.la
