# man/: a page for every public function, and the overview.
dist_man3_MANS += \
	man/actor_version.3 \
	man/actor_version_string.3
dist_man7_MANS += \
	man/libactor.7
