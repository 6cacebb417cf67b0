# man/: a page for every public function, type and macro, and the overview.
# Pages that only say ".so man3/X.3" are aliases for names documented on X.3.
dist_man3_MANS += \
	man/actor_become.3 \
	man/actor_config_init.3 \
	man/actor_config_t.3 \
	man/actor_ctx_system.3 \
	man/actor_ctx_t.3 \
	man/actor_dead_letter_t.3 \
	man/actor_exit.3 \
	man/actor_handler_t.3 \
	man/actor_msg_claim.3 \
	man/actor_msg_data.3 \
	man/actor_msg_sender.3 \
	man/actor_msg_size.3 \
	man/actor_msg_t.3 \
	man/actor_msg_type.3 \
	man/actor_ref_equal.3 \
	man/actor_ref_is_none.3 \
	man/actor_ref_t.3 \
	man/actor_request.3 \
	man/actor_then_t.3 \
	man/actor_reply.3 \
	man/actor_promise.3 \
	man/actor_promise_deliver.3 \
	man/actor_promise_t.3 \
	man/actor_forward.3 \
	man/actor_system_ask.3 \
	man/actor_monitor.3 \
	man/actor_demonitor.3 \
	man/actor_link.3 \
	man/actor_unlink.3 \
	man/actor_trap_exit.3 \
	man/actor_signal_t.3 \
	man/actor_supervisor_spawn.3 \
	man/actor_supervisor_spec_t.3 \
	man/actor_child_spec_t.3 \
	man/actor_register.3 \
	man/actor_lookup.3 \
	man/actor_unregister.3 \
	man/actor_send_after.3 \
	man/actor_system_send_after.3 \
	man/actor_timer_cancel.3 \
	man/actor_timer_t.3 \
	man/actor_self.3 \
	man/actor_self_state.3 \
	man/actor_send.3 \
	man/actor_send_moved.3 \
	man/actor_spawn.3 \
	man/actor_spec_t.3 \
	man/actor_stop.3 \
	man/actor_system_create.3 \
	man/actor_system_destroy.3 \
	man/actor_system_send.3 \
	man/actor_system_send_moved.3 \
	man/actor_system_shutdown.3 \
	man/actor_system_spawn.3 \
	man/actor_system_stats.3 \
	man/actor_system_stats_t.3 \
	man/actor_system_t.3 \
	man/actor_system_worker_stats.3 \
	man/actor_system_workers.3 \
	man/actor_version.3 \
	man/actor_version_string.3 \
	man/actor_worker_stats_t.3
dist_man7_MANS += \
	man/libactor.7
